package redisstore_test

import (
	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// Every replica of a web API builds its application this way: their
// caches share the tokens (and the authority's discovery document)
// through Redis, and replicas missing the same token at once make one
// request between them.
func ExampleNew() {
	rc := redis.NewClient(&redis.Options{
		Addr: "redis.internal:6379",
		// Password, TLSConfig: tokens are secrets.
	})
	defer rc.Close()
	store := redisstore.New(rc, "orders-api:")
	app, err := flow.NewConfidential("my-api-client-id", credential.Secret("..."),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.onmicrosoft.com"),
		flow.WithCache(cache.New(cache.WithStore(store))),
		flow.WithMetadataStore(store))
	if err != nil {
		panic(err)
	}
	_ = app.OnBehalfOfSource() // for the bearer.Transport that calls downstream APIs
}
