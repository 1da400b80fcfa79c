package flow_test

import (
	"path/filepath"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"

	"github.com/redis/go-redis/v9"
)

// Fleet-wide coalescing is on by default with a store that grants leases;
// this sets how long a lease lasts without renewal and how long others
// wait for it.
func ExampleWithFleetCoalescing() {
	store := redisstore.New(redis.NewClient(&redis.Options{Addr: "redis.internal:6379"}), "daemons:")
	_, err := flow.NewConfidential("my-daemon", credential.Secret("..."),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.onmicrosoft.com"),
		flow.WithCache(cache.New(cache.WithStore(store))),
		flow.WithFleetCoalescing(flow.FleetCoalescing{LeaseTTL: 5 * time.Second, MaxWait: 20 * time.Second}))
	if err != nil {
		panic(err)
	}
}

// A daemon that restarts often keeps its tokens and its authority's
// discovery document in one file: a restart asks the authority for
// nothing it already has.
func ExampleWithMetadataStore() {
	store, err := filestore.New(filepath.Join("/var/lib/mydaemon", "msal.cache.json"))
	if err != nil {
		panic(err)
	}
	_, err = flow.NewConfidential("my-daemon", credential.Secret("..."),
		flow.WithOIDCAuthority("https://idp.example.com/realms/corp"),
		flow.WithCache(cache.New(cache.WithStore(store))),
		flow.WithMetadataStore(store))
	if err != nil {
		panic(err)
	}
}
