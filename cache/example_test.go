package cache_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bearerhttp/bearer/cache"
)

// A token response is cached in one step, then found by identity and
// scopes: here an app token (client credentials), looked up through
// another alias of the public cloud.
func Example() {
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c := cache.New(cache.WithMaxEntries(10_000))

	err := c.StoreResponse(ctx, cache.Response{
		Environment: "login.microsoftonline.com",
		Realm:       "contoso.onmicrosoft.com",
		ClientID:    "00000000-0000-0000-0000-000000000001",
		Scopes:      []string{"https://graph.microsoft.com/.default"},
		AccessToken: "eyJ0eXAiOiJKV1Qi...",
		ExpiresOn:   now.Add(time.Hour),
	}, now)
	if err != nil {
		panic(err)
	}

	q := cache.AccessTokenQuery{
		Environment:           "login.windows.net",
		Realm:                 "contoso.onmicrosoft.com",
		ClientID:              "00000000-0000-0000-0000-000000000001",
		Scopes:                []string{"https://graph.microsoft.com/.default"},
		CaseInsensitiveScopes: true, // an Entra authority
	}
	at, ok := c.AccessToken(ctx, q, now.Add(30*time.Minute))
	fmt.Println(ok, at.ExpiresOn.UTC().Format(time.Kitchen))
	fmt.Println(at) // the secret never prints

	// In the last 5 minutes of its life the token is not served.
	_, ok = c.AccessToken(ctx, q, now.Add(56*time.Minute))
	fmt.Println(ok)
	// Output:
	// true 1:00PM
	// cache.AccessToken{credential_type=AccessToken environment=login.microsoftonline.com realm=contoso.onmicrosoft.com client_id=00000000-0000-0000-0000-000000000001 target=https://graph.microsoft.com/.default token_type=Bearer expires_on=2025-06-01T13:00:00Z secret=[redacted]}
	// false
}

// On-behalf-of tokens are partitioned by a hash of the user's assertion,
// computed as MSAL Go computes it, so caches are shared.
func ExampleAssertionHash() {
	fmt.Println(cache.AssertionHash("assertion"))
	// Output: fFsdSeaHX9iH_VIhI8SzQWnUzBGmUCzATLfrj3wWaXI=
}

// A cache in front of a store writes every response through; another cache
// (another process) reads the identity's partition on its first miss.
func ExampleWithStore() {
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	store := cache.NewMemoryStore()

	writer := cache.New(cache.WithStore(store))
	_ = writer.StoreResponse(ctx, cache.Response{
		Environment: "login.microsoftonline.com", Realm: "common", ClientID: "app",
		HomeAccountID: "uid.utid", Scopes: []string{"User.Read"},
		AccessToken: "at", ExpiresOn: now.Add(time.Hour),
		RefreshToken: "rt", IDToken: "idt",
		Account: &cache.Account{Username: "alice@contoso.com"},
	}, now)

	reader := cache.New(cache.WithStore(store))
	rt, ok := reader.RefreshToken(ctx, cache.RefreshTokenQuery{
		Environment: "login.microsoftonline.com", ClientID: "app", HomeAccountID: "uid.utid",
	})
	fmt.Println(ok, rt.Partition())
	for _, a := range reader.Accounts(ctx, cache.AccountFilter{Username: "ALICE@contoso.com"}) {
		fmt.Println(a.Username, a.Environment)
	}
	// Output:
	// true uid.utid
	// alice@contoso.com login.microsoftonline.com
}

// UnmarshalMSAL reads a cache file written by MSAL; MarshalMSAL writes
// one MSAL reads. Unknown sections survive.
func ExampleCache_UnmarshalMSAL() {
	c := cache.New()
	err := c.UnmarshalMSAL([]byte(`{
		"AccessToken": {
			"-login.windows.net-accesstoken-app-contoso-s1 s2": {
				"credential_type": "AccessToken", "secret": "at", "environment": "login.windows.net",
				"client_id": "app", "realm": "contoso", "target": "s1 s2",
				"cached_at": "1700000000", "expires_on": "1700003600"
			}
		},
		"SomethingNew": {"kept": true}
	}`))
	if err != nil {
		panic(err)
	}
	_, ok := c.AccessToken(context.Background(), cache.AccessTokenQuery{
		Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "app", Scopes: []string{"s2"},
	}, time.Unix(1700000000, 0))
	fmt.Println(ok)
	out, _ := c.MarshalMSAL()
	fmt.Println(string(out))
	// Output:
	// true
	// {"AccessToken":{"-login.windows.net-accesstoken-app-contoso-s1 s2":{"cached_at":"1700000000","client_id":"app","credential_type":"AccessToken","environment":"login.windows.net","expires_on":"1700003600","realm":"contoso","secret":"at","target":"s1 s2"}},"RefreshToken":{},"IdToken":{},"Account":{},"AppMetadata":{},"SomethingNew":{"kept":true}}
}

// A stored document the cache cannot decode (here, cut short) may hold
// what other apps stored: the cache never writes over it. The token is
// cached in memory regardless, the store failure is logged, and the calls
// that return store failures say why.
func ExampleErrMalformed() {
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	store := cache.NewMemoryStore()
	_ = store.Update(ctx, "uid.utid", func([]byte) ([]byte, error) {
		return []byte(`{"RefreshToken": {"uid.utid-login.windows.net-refreshtoken-other_app--": {`), nil
	})
	c := cache.New(cache.WithStore(store), cache.WithLogger(slog.New(slog.DiscardHandler)))

	err := c.StoreResponse(ctx, cache.Response{
		Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_app", HomeAccountID: "uid.utid",
		Scopes: []string{"User.Read"}, AccessToken: "eyJ0eXAiOiJKV1Qi...", ExpiresOn: now.Add(time.Hour),
	}, now)
	fmt.Println(err) // the token is cached in memory

	err = c.RemoveAccount(ctx, cache.Account{HomeAccountID: "uid.utid", Environment: "login.microsoftonline.com"}, "my_app")
	fmt.Println(errors.Is(err, cache.ErrMalformed), errors.Is(err, cache.ErrStore))

	stored, _ := store.Load(ctx, "uid.utid")
	fmt.Printf("%s\n", stored)
	// Output:
	// <nil>
	// true true
	// {"RefreshToken": {"uid.utid-login.windows.net-refreshtoken-other_app--": {
}
