package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAccounts_filters(t *testing.T) {
	ctx := context.Background()
	c := New()
	store := func(home, env, realm, client, username string) {
		mustStore(t, c, Response{Environment: env, Realm: realm, ClientID: client, HomeAccountID: home,
			RefreshToken: "rt", IDToken: "idt", Account: &Account{Username: username}}, t0)
	}
	store("alice", "login.microsoftonline.com", "contoso", "app1", "Alice@Contoso.com")
	store("alice", "login.microsoftonline.com", "fabrikam", "app1", "Alice@Contoso.com")
	store("bob", "login.microsoftonline.us", "gov", "app2", "bob@gov.us")
	store("eve", "idp.example.com", "r", "app3", "eve")
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "fam-a", HomeAccountID: "fred",
		RefreshToken: "rt", FamilyID: "1", Account: &Account{Username: "fred"}}, t0)
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "fam-b", HomeAccountID: "gina",
		FamilyID: "1", IDToken: "idt", Account: &Account{Username: "gina"}}, t0) // fam-b's metadata: family 1

	tests := []struct {
		name string
		f    AccountFilter
		want string // "home/realm" joined by spaces, in order
	}{
		{"all", AccountFilter{}, "alice/contoso alice/fabrikam bob/gov eve/r fred/contoso gina/contoso"},
		{"by username, any case", AccountFilter{Username: "ALICE@contoso.com"}, "alice/contoso alice/fabrikam"},
		{"unknown username", AccountFilter{Username: "mallory"}, ""},
		{"by environment alias", AccountFilter{Environment: "login.windows.net"}, "alice/contoso alice/fabrikam fred/contoso gina/contoso"},
		{"sovereign cloud alias", AccountFilter{Environment: "login.usgovcloudapi.net"}, "bob/gov"},
		{"by client", AccountFilter{ClientID: "app2"}, "bob/gov"},
		{"by client, through its family's refresh token", AccountFilter{ClientID: "fam-b"}, "fred/contoso gina/contoso"},
		{"by client outside the family", AccountFilter{ClientID: "app1", Environment: "login.microsoftonline.com"}, "alice/contoso alice/fabrikam"},
		{"by home account ID", AccountFilter{HomeAccountID: "alice"}, "alice/contoso alice/fabrikam"},
		{"by home account ID and environment", AccountFilter{HomeAccountID: "alice", Environment: "login.microsoftonline.us"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range c.Accounts(ctx, tt.f) {
				got = append(got, a.HomeAccountID+"/"+a.Realm)
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("Accounts(%+v) = %q, want %q", tt.f, s, tt.want)
			}
		})
	}
	a := c.Accounts(ctx, AccountFilter{HomeAccountID: "bob"})[0]
	if a.Environment != "login.microsoftonline.us" || a.AuthorityType != AuthorityTypeMSSTS {
		t.Errorf("account = %+v", a)
	}
}

func TestRemoveAccount(t *testing.T) {
	ctx := context.Background()
	c := New()
	user := func(client, family, realm string) Response {
		return Response{Environment: "login.microsoftonline.com", Realm: realm, ClientID: client, HomeAccountID: "h",
			Scopes: []string{"s-" + client}, AccessToken: "at-" + client, ExpiresOn: t0.Add(time.Hour),
			RefreshToken: "rt-" + client, FamilyID: family, IDToken: "idt-" + client, Account: &Account{Username: "u"}}
	}
	mustStore(t, c, user("app", "", "t1"), t0)
	mustStore(t, c, user("app", "", "t2"), t0)
	mustStore(t, c, user("other", "", "t1"), t0)   // a non-family app sharing the cache
	mustStore(t, c, user("family", "1", "t1"), t0) // a family app
	mustStore(t, c, Response{Environment: "login.microsoftonline.us", Realm: "t1", ClientID: "app", HomeAccountID: "h",
		RefreshToken: "gov-rt", Account: &Account{Username: "u"}}, t0) // another cloud
	mustStore(t, c, userResponse("someone-else", "x", "s"), t0)
	if err := c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "app"); err != nil {
		t.Fatal(err)
	}
	rt := func(client, env string) string {
		t, _ := c.RefreshToken(ctx, RefreshTokenQuery{Environment: env, ClientID: client, HomeAccountID: "h"})
		return t.Secret
	}
	if got := rt("app", "login.microsoftonline.com"); got != "" {
		t.Errorf("app's refresh token survived: %q", got)
	}
	if got := rt("family", "login.microsoftonline.com"); got != "" {
		t.Errorf("family refresh token survived: %q", got)
	}
	if got := rt("other", "login.microsoftonline.com"); got != "rt-other" {
		t.Errorf("another app's refresh token = %q, want kept", got)
	}
	if got := rt("app", "login.microsoftonline.us"); got != "gov-rt" {
		t.Errorf("another cloud's refresh token = %q, want kept", got)
	}
	for _, client := range []string{"app", "other", "family"} {
		if _, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t1", ClientID: client, HomeAccountID: "h", Scopes: []string{"s-" + client}}, t0); ok {
			t.Errorf("access token of %s survived (MSAL removes the account's access tokens of every app)", client)
		}
		if _, ok := c.IDToken(ctx, IDTokenQuery{Environment: "login.microsoftonline.com", Realm: "t1", ClientID: client, HomeAccountID: "h"}); ok {
			t.Errorf("ID token of %s survived", client)
		}
	}
	var left []string
	for _, a := range c.Accounts(ctx, AccountFilter{}) {
		left = append(left, a.HomeAccountID+"@"+a.Environment)
	}
	if strings.Join(left, " ") != "someone-else@login.microsoftonline.com h@login.microsoftonline.us" {
		t.Errorf("accounts left = %q", left)
	}
	// Left: other's refresh token, the other cloud's refresh token and
	// account, and someone else's four entries.
	if st := c.Stats(); st.Entries != 1+2+4 {
		t.Errorf("Entries = %d, want 7", st.Entries)
	}
}

func TestRemoveAppTokens(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	c := New(WithStore(mem))
	for _, tenant := range []string{"t1", "t2", "t3"} {
		mustStore(t, c, appResponse("app", tenant, "tok-"+tenant, "s"), t0)
	}
	mustStore(t, c, appResponse("other", "t1", "other", "s"), t0)
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "t1", ClientID: "app", HomeAccountID: "h", Scopes: []string{"s"}, AccessToken: "user", ExpiresOn: t0.Add(time.Hour)}, t0)
	has := func(client, tenant, home string) bool {
		_, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: tenant, ClientID: client, HomeAccountID: home, Scopes: []string{"s"}}, t0)
		return ok
	}
	if err := c.RemoveAppTokens(ctx, "app", "t2"); err != nil {
		t.Fatal(err)
	}
	if has("app", "t2", "") || !has("app", "t1", "") || !has("app", "t3", "") {
		t.Error("RemoveAppTokens with a tenant removed the wrong tokens")
	}
	if err := c.RemoveAppTokens(ctx, "app", ""); err != nil {
		t.Fatal(err)
	}
	if has("app", "t1", "") || has("app", "t3", "") {
		t.Error("RemoveAppTokens without a tenant left app tokens")
	}
	if !has("other", "t1", "") || !has("app", "t1", "h") {
		t.Error("RemoveAppTokens removed another app's or a user's tokens")
	}
	for _, tenant := range []string{"t1", "t2", "t3"} {
		data, _ := mem.Load(ctx, AppPartition("app", tenant))
		if strings.Contains(string(data), "tok-") {
			t.Errorf("stored partition of %s still holds the token: %s", tenant, data)
		}
	}
	if st := c.Stats(); st.Entries != 2 {
		t.Errorf("Stats = %+v, want the other app's and the user's tokens", st)
	}
}

func TestConcurrentUse(t *testing.T) {
	// Run under -race: every operation at once, on shared and separate
	// partitions.
	ctx := context.Background()
	mem := NewMemoryStore()
	c := New(WithMaxEntries(200), WithStore(mem))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				home := fmt.Sprint("user", (g*7+i)%40)
				mustStore(t, c, userResponse(home, fmt.Sprint("at", i), fmt.Sprint("s", i%3)), t0)
				c.AccessToken(ctx, userQuery(home, fmt.Sprint("s", i%3)), t0.Add(time.Duration(i)*time.Second))
				c.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: "my_client_id", HomeAccountID: home})
				switch i % 50 {
				case 10:
					c.Accounts(ctx, AccountFilter{Username: home + "@contoso.com"})
				case 20:
					_ = c.RemoveAccount(ctx, Account{HomeAccountID: home, Environment: "login.windows.net"}, "my_client_id")
				case 30:
					c.Sweep(t0.Add(2 * time.Hour))
				case 40:
					if _, err := c.MarshalMSAL(); err != nil {
						t.Error(err)
					}
				}
				mustStore(t, c, appResponse("app", fmt.Sprint("t", i%10), "tok", "s"), t0)
				if i == 150 && g == 0 {
					_ = c.RemoveAppTokens(ctx, "app", "")
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.Entries > 200 || st.Partitions > 200 || st.Entries < 0 || st.Bytes < 0 {
		t.Errorf("Stats = %+v", st)
	}
	// The counters agree with what is there.
	data, err := c.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.ats) + len(d.rts) + len(d.idts) + len(d.accts); n != c.Stats().Entries {
		t.Errorf("MarshalMSAL has %d entries, Stats says %d", n, c.Stats().Entries)
	}
}
