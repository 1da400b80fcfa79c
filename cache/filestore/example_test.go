package filestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
)

// A cache in front of a file: what one process stores, a restarted one
// (or another process on the machine) finds.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "msal.cache.json")
	ctx := context.Background()
	now := time.Now()

	store, err := filestore.New(path)
	if err != nil {
		panic(err)
	}
	// With flow: flow.WithCache(cache.New(cache.WithStore(store))).
	c := cache.New(cache.WithStore(store))
	err = c.StoreResponse(ctx, cache.Response{
		Environment: "login.microsoftonline.com", Realm: "contoso.com", ClientID: "my-app",
		Scopes: []string{"https://graph.microsoft.com/.default"}, AccessToken: "token-value", ExpiresOn: now.Add(time.Hour),
	}, now)
	if err != nil {
		panic(err)
	}

	// Another process, or the same one after a restart.
	store2, err := filestore.New(path)
	if err != nil {
		panic(err)
	}
	restarted := cache.New(cache.WithStore(store2))
	_, found := restarted.AccessToken(ctx, cache.AccessTokenQuery{
		Environment: "login.microsoftonline.com", Realm: "contoso.com", ClientID: "my-app",
		Scopes: []string{"https://graph.microsoft.com/.default"}, CaseInsensitiveScopes: true,
	}, now)
	fi, err := os.Stat(path)
	if err != nil {
		panic(err)
	}
	fmt.Println("found after a restart:", found)
	fmt.Println("file mode:", fi.Mode().Perm())
	// Output:
	// found after a restart: true
	// file mode: -rw-------
}
