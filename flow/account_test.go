package flow

import (
	"errors"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

// TestAccounts lists and removes the accounts a web app's users left in
// a shared cache (through the authorization code flow of an application
// sharing it, here written to the cache directly).
func TestAccounts(t *testing.T) {
	shared := cache.New()
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithCache(shared),
		WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(refuseClient(t)))
	store := func(home, env, username string) {
		t.Helper()
		err := shared.StoreResponse(bg(), cache.Response{
			Environment: env, Realm: "tid-1", ClientID: daemonID, HomeAccountID: home,
			Scopes: []string{"User.Read"}, AccessToken: "at-" + home, ExpiresOn: testNow.Add(time.Hour),
			RefreshToken: "rt-" + home, IDToken: jwtOf(`{"sub":"x"}`),
			Account: &cache.Account{LocalAccountID: "oid-" + home, Username: username, Name: "N " + home},
		}, testNow)
		if err != nil {
			t.Fatal(err)
		}
	}
	store("uid-a.tid-1", "login.microsoftonline.com", "alice@contoso.com")
	store("uid-b.tid-1", "login.windows.net", "bob@contoso.com") // an alias of the same cloud
	store("uid-c.tid-1", "login.microsoftonline.us", "carol@contoso.com")

	all, err := app.Accounts(bg(), "")
	if err != nil || len(all) != 2 {
		t.Fatalf("Accounts = %v, %v; want alice and bob (carol is in another cloud)", all, err)
	}
	want := Account{HomeAccountID: "uid-a.tid-1", Environment: "login.microsoftonline.com", TenantID: "tid-1",
		Username: "alice@contoso.com", LocalAccountID: "oid-uid-a.tid-1", Name: "N uid-a.tid-1", AuthorityType: AuthorityTypeMSSTS}
	if all[0] != want {
		t.Errorf("account %s, want %s", dumpAccount(all[0]), dumpAccount(want))
	}
	bob, err := app.Accounts(bg(), "BOB@contoso.com")
	if err != nil || len(bob) != 1 || bob[0].Username != "bob@contoso.com" {
		t.Fatalf("Accounts(bob) = %v, %v", bob, err)
	}
	if err := app.RemoveAccount(bg(), bob[0]); err != nil {
		t.Fatal(err)
	}
	if left, _ := app.Accounts(bg(), ""); len(left) != 1 || left[0].Username != "alice@contoso.com" {
		t.Errorf("after removing bob: %v", left)
	}
	if _, ok := shared.RefreshToken(bg(), cache.RefreshTokenQuery{Environment: "login.windows.net", ClientID: daemonID, HomeAccountID: "uid-b.tid-1"}); ok {
		t.Error("bob's refresh token survived RemoveAccount")
	}
	if err := app.RemoveAccount(bg(), Account{}); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("RemoveAccount(zero) = %v", err)
	}
}
