package cache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

// appResponse is a client credentials response of app c at tenant t.
func appResponse(client, tenant, secret string, scopes ...string) Response {
	return Response{
		Environment: "login.microsoftonline.com", Realm: tenant, ClientID: client,
		Scopes: scopes, AccessToken: secret, ExpiresOn: t0.Add(time.Hour),
	}
}

func mustStore(t testing.TB, c *Cache, r Response, now time.Time) {
	t.Helper()
	if err := c.StoreResponse(context.Background(), r, now); err != nil {
		t.Fatal(err)
	}
}

func TestAccessToken_lookup(t *testing.T) {
	ctx := context.Background()
	c := New()
	mustStore(t, c, appResponse("app", "tenant-a", "app-a", "https://graph.microsoft.com/.default"), t0)
	mustStore(t, c, appResponse("app", "tenant-b", "app-b", "https://graph.microsoft.com/.default"), t0)
	mustStore(t, c, appResponse("app", "tenant-a", "vault", "https://vault.azure.net/.default"), t0)
	mustStore(t, c, Response{Environment: "login.windows.net", Realm: "tenant-a", ClientID: "app", HomeAccountID: "uid.utid",
		Scopes: []string{"User.Read", "Mail.Read", "openid", "profile"}, AccessToken: "user", ExpiresOn: t0.Add(time.Hour)}, t0)
	hash := AssertionHash("the user's assertion")
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", HomeAccountID: "uid.utid", UserAssertionHash: hash,
		Scopes: []string{"User.Read"}, AccessToken: "obo", ExpiresOn: t0.Add(time.Hour)}, t0)
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app",
		Scopes: []string{"https://graph.microsoft.com/.default"}, AccessToken: "pop", TokenType: "pop", KeyID: "k1", ExpiresOn: t0.Add(time.Hour)}, t0)
	mustStore(t, c, Response{Environment: "idp.example.com", Realm: "r", ClientID: "app",
		Scopes: []string{"Read"}, AccessToken: "oidc", ExpiresOn: t0.Add(time.Hour)}, t0)

	graph := []string{"https://graph.microsoft.com/.default"}
	tests := []struct {
		name string
		q    AccessTokenQuery
		want string // "" for a miss
	}{
		{"app token", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: graph}, "app-a"},
		{"app token through an alias", AccessTokenQuery{Environment: "login.windows.net", Realm: "tenant-a", ClientID: "app", Scopes: graph}, "app-a"},
		{"app token through another alias, any case", AccessTokenQuery{Environment: "LOGIN.microsoft.com", Realm: "tenant-a", ClientID: "app", Scopes: graph}, "app-a"},
		{"another tenant's token", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-b", ClientID: "app", Scopes: graph}, "app-b"},
		{"another cloud misses", AccessTokenQuery{Environment: "login.microsoftonline.us", Realm: "tenant-a", ClientID: "app", Scopes: graph}, ""},
		{"another client misses", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "other", Scopes: graph}, ""},
		{"unknown tenant misses", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-c", ClientID: "app", Scopes: graph}, ""},
		{"second resource of the same app", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: []string{"https://vault.azure.net/.default"}}, "vault"},
		{"user token, subset of scopes, case folded", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", HomeAccountID: "uid.utid", Scopes: []string{"user.read"}, CaseInsensitiveScopes: true}, "user"},
		{"user token, OIDC scopes ignored", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", HomeAccountID: "uid.utid", Scopes: []string{"User.Read", "offline_access"}}, "user"},
		{"user token, scope not granted", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", HomeAccountID: "uid.utid", Scopes: []string{"User.Read", "Files.Read"}}, ""},
		{"user's tokens are not the app's", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: []string{"User.Read"}}, ""},
		{"on-behalf-of token by assertion hash", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", UserAssertionHash: hash, Scopes: []string{"User.Read"}}, "obo"},
		{"another assertion misses", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", UserAssertionHash: AssertionHash("other"), Scopes: []string{"User.Read"}}, ""},
		{"pop token by type and key", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: graph, TokenType: "PoP", KeyID: "k1"}, "pop"},
		{"pop token, other key misses", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: graph, TokenType: "pop", KeyID: "k2"}, ""},
		{"bearer is the default type", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app", Scopes: graph, TokenType: "BEARER"}, "app-a"},
		{"other authority, exact scopes", AccessTokenQuery{Environment: "idp.example.com", Realm: "r", ClientID: "app", Scopes: []string{"Read"}}, "oidc"},
		{"other authority, other case misses", AccessTokenQuery{Environment: "IDP.example.com", Realm: "r", ClientID: "app", Scopes: []string{"read"}}, ""},
		{"no scopes misses", AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "tenant-a", ClientID: "app"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, ok := c.AccessToken(ctx, tt.q, t0.Add(time.Minute))
			if ok != (tt.want != "") || at.Secret != tt.want {
				t.Errorf("AccessToken = %q, %v; want %q", at.Secret, ok, tt.want)
			}
		})
	}
}

func TestAccessToken_exportedFields(t *testing.T) {
	c := New()
	hash := AssertionHash("a")
	r := Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", HomeAccountID: "h", UserAssertionHash: hash,
		Scopes: []string{"s1", "s2"}, AccessToken: "tok", TokenType: "pop", KeyID: "kid",
		ExpiresOn: t0.Add(time.Hour + 500*time.Millisecond), ExtendedExpiresOn: t0.Add(2 * time.Hour), RefreshOn: t0.Add(30 * time.Minute)}
	mustStore(t, c, r, t0.Add(900*time.Millisecond))
	at, ok := c.AccessToken(context.Background(), AccessTokenQuery{Environment: "login.windows.net", Realm: "t", ClientID: "c", UserAssertionHash: hash, Scopes: []string{"s2"}, TokenType: "pop", KeyID: "kid"}, t0)
	if !ok {
		t.Fatal("miss")
	}
	want := AccessToken{HomeAccountID: "h", Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", CredentialType: "AccessToken",
		Target: "s1 s2", Secret: "tok", CachedAt: t0, ExpiresOn: t0.Add(time.Hour), ExtendedExpiresOn: t0.Add(2 * time.Hour),
		RefreshOn: t0.Add(30 * time.Minute), TokenType: "pop", KeyID: "kid", UserAssertionHash: hash}
	if fmt.Sprint(at.attrs()) != fmt.Sprint(want.attrs()) || at.Secret != want.Secret || at.HomeAccountID != want.HomeAccountID ||
		at.UserAssertionHash != hash || !at.CachedAt.Equal(want.CachedAt) || !at.ExpiresOn.Equal(want.ExpiresOn) ||
		!at.ExtendedExpiresOn.Equal(want.ExtendedExpiresOn) || !at.RefreshOn.Equal(want.RefreshOn) || at.KeyID != "kid" {
		t.Errorf("got  %+v %v %v %v\nwant %+v", at, at.CachedAt, at.ExpiresOn, at.HomeAccountID, want)
	}
	if got := at.Scopes(); len(got) != 2 || got[0] != "s1" || got[1] != "s2" {
		t.Errorf("Scopes() = %q", got)
	}
}

func TestStoreResponse_replacesIntersectingScopes(t *testing.T) {
	ctx := context.Background()
	c := New()
	q := func(scopes ...string) string {
		at, _ := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", HomeAccountID: "h", Scopes: scopes, CaseInsensitiveScopes: true}, t0)
		return at.Secret
	}
	user := func(secret string, scopes ...string) Response {
		return Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", HomeAccountID: "h", Scopes: scopes, AccessToken: secret, ExpiresOn: t0.Add(time.Hour)}
	}
	mustStore(t, c, user("ab", "a", "b"), t0)
	mustStore(t, c, user("cd", "c", "d"), t0)
	if q("a") != "ab" || q("d") != "cd" || c.Stats().Entries != 2 {
		t.Fatalf("disjoint scope sets do not coexist: %q %q %+v", q("a"), q("d"), c.Stats())
	}
	mustStore(t, c, user("B", "B"), t0) // intersects "a b" (case-insensitively)
	if q("a") != "" || q("b") != "B" || q("c") != "cd" || c.Stats().Entries != 2 {
		t.Errorf("after B: a=%q b=%q c=%q %+v", q("a"), q("b"), q("c"), c.Stats())
	}
	// Another realm's token is another bucket: not replaced.
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "t2", ClientID: "c", HomeAccountID: "h", Scopes: []string{"c"}, AccessToken: "t2", ExpiresOn: t0.Add(time.Hour)}, t0)
	if q("c") != "cd" {
		t.Error("a token of another realm replaced this realm's")
	}
}

func TestStoreResponse_invalid(t *testing.T) {
	c := New()
	for _, r := range []Response{
		{Environment: "e", AccessToken: "x"},
		{ClientID: "c", AccessToken: "x"},
	} {
		err := c.StoreResponse(context.Background(), r, t0)
		if !errors.Is(err, ErrInvalidResponse) {
			t.Errorf("StoreResponse(%v) = %v, want ErrInvalidResponse", r, err)
		}
	}
	// An access token expired on arrival is not cached; the rest is.
	mustStore(t, c, Response{Environment: "e", ClientID: "c", HomeAccountID: "h", Scopes: []string{"s"}, AccessToken: "x", ExpiresOn: t0, RefreshToken: "rt"}, t0)
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("Entries = %d, want the refresh token only", st.Entries)
	}
	// Refresh tokens need an identity.
	c2 := New()
	mustStore(t, c2, Response{Environment: "e", ClientID: "c", RefreshToken: "rt", IDToken: "idt", Account: &Account{Username: "u"}}, t0)
	if st := c2.Stats(); st.Entries != 0 || st.Partitions != 0 {
		t.Errorf("Stats = %+v, want nothing cached", st)
	}
}

func TestAccessToken_expiredDroppedLazily(t *testing.T) {
	ctx := context.Background()
	c := New()
	mustStore(t, c, appResponse("c", "t", "tok", "s"), t0)
	q := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"s"}}
	// Inside the margin: not served, still cached.
	if _, ok := c.AccessToken(ctx, q, t0.Add(58*time.Minute)); ok {
		t.Error("served inside the margin")
	}
	if c.Stats().Entries != 1 {
		t.Error("a token not yet expired was dropped")
	}
	if _, ok := c.AccessToken(ctx, q, t0.Add(time.Hour)); ok {
		t.Error("served expired")
	}
	if st := c.Stats(); st.Entries != 0 || st.Partitions != 0 || st.Bytes != 0 {
		t.Errorf("after meeting an expired token: %+v, want it and its partition gone", st)
	}
}

func TestSweep(t *testing.T) {
	c := New()
	for i := range 100 {
		r := appResponse("c", fmt.Sprint("t", i), "tok", "s")
		r.ExpiresOn = t0.Add(time.Duration(i+1) * time.Minute)
		mustStore(t, c, r, t0)
	}
	mustStore(t, c, Response{Environment: "e", ClientID: "c", HomeAccountID: "h", RefreshToken: "rt"}, t0)
	if n := c.Sweep(t0.Add(30*time.Minute - time.Second)); n != 29 {
		t.Errorf("Sweep dropped %d, want 29", n)
	}
	if n := c.Sweep(t0.Add(30 * time.Minute)); n != 1 {
		t.Errorf("Sweep at an exact expiry dropped %d, want 1", n)
	}
	if n := c.Sweep(t0.Add(24 * time.Hour)); n != 70 {
		t.Errorf("Sweep dropped %d, want 70", n)
	}
	if st := c.Stats(); st.Entries != 1 || st.Partitions != 1 {
		t.Errorf("Stats = %+v, want the refresh token kept", st)
	}
}

func TestStoreResponse_sweepsItsShard(t *testing.T) {
	c := New(withShards(1))
	for i := range 5 {
		r := appResponse("c", fmt.Sprint("t", i), "tok", "s")
		r.ExpiresOn = t0.Add(time.Minute)
		mustStore(t, c, r, t0)
	}
	mustStore(t, c, appResponse("c", "later", "tok", "s"), t0.Add(2*time.Minute))
	if st := c.Stats(); st.Entries != 1 {
		t.Errorf("Entries = %d, want the expired tokens swept by the write", st.Entries)
	}
}

func TestRefreshToken(t *testing.T) {
	ctx := context.Background()
	c := New()
	user := func(client, family, rt string) Response {
		return Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: client, HomeAccountID: "h", RefreshToken: rt, FamilyID: family}
	}
	mustStore(t, c, user("solo", "", "solo-rt"), t0)
	mustStore(t, c, user("fam-a", "1", "family-rt"), t0)
	q := func(client, family string) string {
		rt, _ := c.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: client, FamilyID: family, HomeAccountID: "h"})
		return rt.Secret
	}
	tests := []struct {
		name, client, family, want string
	}{
		{"own token", "solo", "", "solo-rt"},
		{"family app uses the family token", "fam-a", "", "family-rt"},
		{"another family member by family ID", "fam-b", "1", "family-rt"},
		{"unknown app outside any family", "fam-b", "", ""},
		{"non-family app does not get the family token", "other", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := q(tt.client, tt.family); got != tt.want {
				t.Errorf("RefreshToken(%s, %q) = %q, want %q", tt.client, tt.family, got, tt.want)
			}
		})
	}
	// A family member's new refresh token replaces the family's.
	mustStore(t, c, user("fam-b", "1", "family-rt-2"), t0)
	if got := q("fam-a", ""); got != "family-rt-2" {
		t.Errorf("after a new family token: %q", got)
	}
	if got := q("solo", ""); got != "solo-rt" {
		t.Errorf("the solo app's token was touched: %q", got)
	}
	if m, ok := c.AppMetadata("login.microsoft.com", "fam-b"); !ok || m.FamilyID != "1" || m.Environment != "login.microsoftonline.com" {
		t.Errorf("AppMetadata = %+v, %v", m, ok)
	}
	if _, ok := c.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: "solo"}); ok {
		t.Error("a refresh token without an identity")
	}
}

func TestAccessToken_hitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	c := New()
	mustStore(t, c, appResponse("c", "t", "tok", "https://graph.microsoft.com/.default"), t0)
	mustStore(t, c, Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", HomeAccountID: "h", Scopes: []string{"User.Read"}, AccessToken: "u", ExpiresOn: t0.Add(time.Hour)}, t0)
	app := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"https://graph.microsoft.com/.default"}, CaseInsensitiveScopes: true}
	user := AccessTokenQuery{Environment: "login.windows.net", Realm: "t", ClientID: "c", HomeAccountID: "h", Scopes: []string{"user.read"}, CaseInsensitiveScopes: true}
	for _, q := range []AccessTokenQuery{app, user} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := c.AccessToken(ctx, q, t0); !ok {
				t.Fatal("miss")
			}
		})
		if allocs != 0 {
			t.Errorf("a hit allocates %v times", allocs)
		}
	}
}

func TestOnBehalfOf_entriesStayWithTheAssertion(t *testing.T) {
	ctx := context.Background()
	c := New()
	hash := AssertionHash("incoming token of alice")
	r := userResponse("alice", "obo-at", "User.Read")
	r.UserAssertionHash = hash
	mustStore(t, c, r, t0)
	rtq := RefreshTokenQuery{Environment: "login.windows.net", ClientID: "my_client_id", UserAssertionHash: hash}
	if rt, ok := c.RefreshToken(ctx, rtq); !ok || rt.Secret != "rt-obo-at" || rt.UserAssertionHash != hash {
		t.Errorf("RefreshToken by assertion = %v, %v", rt, ok)
	}
	idq := IDTokenQuery{Environment: "login.windows.net", Realm: "contoso", ClientID: "my_client_id", UserAssertionHash: hash}
	if idt, ok := c.IDToken(ctx, idq); !ok || idt.Secret != "idt-obo-at" {
		t.Errorf("IDToken by assertion = %v, %v", idt, ok)
	}
	// The user's own partition (another app signing alice in) holds none
	// of it, and the on-behalf-of account is no sign-in.
	rtq.UserAssertionHash, rtq.HomeAccountID = "", "alice"
	if _, ok := c.RefreshToken(ctx, rtq); ok {
		t.Error("an on-behalf-of refresh token serves the user's own partition")
	}
	if got := c.Accounts(ctx, AccountFilter{}); len(got) != 0 {
		t.Errorf("Accounts = %v", got)
	}
	if _, ok := c.AccessToken(ctx, userQuery("alice", "User.Read"), t0); ok {
		t.Error("an on-behalf-of access token serves the user's own partition")
	}
}

func TestCanonEnv(t *testing.T) {
	tests := map[string]string{
		"login.microsoftonline.com": "login.microsoftonline.com",
		"LOGIN.windows.net":         "login.microsoftonline.com",
		"login.microsoft.com":       "login.microsoftonline.com",
		"sts.windows.net":           "login.microsoftonline.com",
		"login.chinacloudapi.cn":    "login.partner.microsoftonline.cn",
		"login.usgovcloudapi.net":   "login.microsoftonline.us",
		"login.microsoftonline.us":  "login.microsoftonline.us",
		"idp.Example.com":           "idp.example.com",
	}
	for host, want := range tests {
		if got := canonEnv(host); got != want {
			t.Errorf("canonEnv(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestStoreResponse_typicalTokenIsCompact(t *testing.T) {
	// A token written as flow writes it needs no record of what its bucket
	// implies (no atRare): a memory guard.
	c := New()
	for _, env := range []string{"login.microsoftonline.com", "login.microsoftonline.us", "idp.example.com"} {
		mustStore(t, c, Response{Environment: env, Realm: "t", ClientID: "c", HomeAccountID: "h", Scopes: []string{"a"}, AccessToken: "x", ExpiresOn: t0.Add(time.Hour)}, t0)
	}
	for i := range c.shards {
		for p := c.shards[i].head; p != nil; p = p.older {
			for b := p.buckets; b != nil; b = b.pnext {
				for e := b.head; e != nil; e = e.next {
					if e.rare != nil {
						t.Errorf("token of %s carries %+v", b.env, *e.rare)
					}
				}
			}
		}
	}
}
