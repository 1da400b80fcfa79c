package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
)

// TestClientSourceCachedToken checks the token ClientSource serves from
// the cache: its Authorization value is "Bearer " and the access token,
// its scopes the requested ones; serving it allocates nothing (a count
// that is deterministic, so a regression fails here); and after a
// refresh, both follow the new token.
func TestClientSourceCachedToken(t *testing.T) {
	srv, app := newDaemon(t)
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	first, err := src.Token(bg(), req)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := src.Token(bg(), req)
	if err != nil {
		t.Fatal(err)
	}
	if cached.AccessToken != first.AccessToken || cached.Authorization != "Bearer "+first.AccessToken || !slices.Equal(cached.Scopes, req.Scopes) {
		t.Fatalf("cached token: Authorization %q for token %q, scopes %q", cached.Authorization, first.AccessToken, cached.Scopes)
	}
	var tokErr error
	if n := testing.AllocsPerRun(100, func() { _, tokErr = src.Token(bg(), req) }); n != 0 || tokErr != nil {
		t.Errorf("a cached token costs %v allocations (%v), want 0", n, tokErr)
	}

	forced, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	next, err := src.Token(bg(), req)
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken != forced.AccessToken || next.AccessToken == first.AccessToken || next.Authorization != "Bearer "+forced.AccessToken {
		t.Errorf("after a refresh: Authorization %q for token %q (first %q)", next.Authorization, forced.AccessToken, first.AccessToken)
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

// TestAcquireTokenForClientScopesAreItsOwn checks that a cached result of
// AcquireTokenForClient does not share the caller's scopes slice (only a
// source's, whose request scopes never change, may): changing the
// caller's slice afterwards leaves the result alone.
func TestAcquireTokenForClientScopesAreItsOwn(t *testing.T) {
	_, app := newDaemon(t)
	scopes := []string{graphDefault}
	if _, err := app.AcquireTokenForClient(bg(), scopes); err != nil {
		t.Fatal(err)
	}
	r, err := app.AcquireTokenForClient(bg(), scopes)
	if err != nil || !r.FromCache {
		t.Fatalf("%+v, %v", r, err)
	}
	scopes[0] = "changed"
	if !slices.Equal(r.Scopes, []string{graphDefault}) {
		t.Errorf("result scopes %q changed with the caller's slice", r.Scopes)
	}
}

func TestTargetIs(t *testing.T) {
	tests := []struct {
		target string
		scopes []string
		want   bool
	}{
		{"a", []string{"a"}, true},
		{"a b", []string{"a", "b"}, true},
		{"  a   b ", []string{"a", "b"}, true},
		{"a b", []string{"b", "a"}, false},
		{"a b", []string{"a"}, false},
		{"a", []string{"a", "b"}, false},
		{"ab", []string{"a"}, false},
		{"a", []string{"ab"}, false},
		{"A", []string{"a"}, false},
		{"", nil, false},
		{"a", nil, false},
		{"", []string{""}, false},
		{"a\tb", []string{"a\tb"}, false},
		{"a\u00a0b", []string{"a\u00a0b"}, false},
	}
	for _, tc := range tests {
		got := targetIs(tc.target, tc.scopes)
		if got != tc.want {
			t.Errorf("targetIs(%q, %q) = %v, want %v", tc.target, tc.scopes, got, tc.want)
		}
		// Whenever it says yes, strings.Fields agrees.
		if got && !slices.Equal(strings.Fields(tc.target), tc.scopes) {
			t.Errorf("targetIs(%q, %q): Fields gives %q", tc.target, tc.scopes, strings.Fields(tc.target))
		}
	}
}

// TestOnBehalfOfSourceCachedToken checks OnBehalfOfSource's cached path:
// each user's context gets that user's token with its Authorization
// value, the assertion's hash remembered in the context is
// cache.AssertionHash of it, and a cached token allocates nothing.
func TestOnBehalfOfSourceCachedToken(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	src := app.OnBehalfOfSource()
	req := bearer.TokenRequest{Scopes: downstreamRead}
	alice := ContextWithUserAssertion(bg(), m.assertion(aliceName))
	bob := ContextWithUserAssertion(bg(), m.assertion(bobName))
	got := map[string]string{}
	for _, user := range []struct {
		name string
		ctx  context.Context
	}{{aliceName, alice}, {bobName, bob}, {aliceName, alice}, {bobName, bob}} {
		tok, err := src.Token(user.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := m.srv.Verify(tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if claims["upn"] != user.name && claims["preferred_username"] != user.name && claims["sub"] != user.name {
			t.Errorf("%s got a token for %v", user.name, claims)
		}
		prev, cached := got[user.name]
		if cached && prev != tok.AccessToken {
			t.Errorf("%s: a second token from the cache", user.name)
		}
		if cached && tok.Authorization != "Bearer "+tok.AccessToken {
			t.Errorf("%s: the cached token's Authorization is not it (%d bytes for a %d-byte token)", user.name, len(tok.Authorization), len(tok.AccessToken))
		}
		got[user.name] = tok.AccessToken
	}
	if got[aliceName] == got[bobName] {
		t.Error("both users got the same token")
	}
	if n := m.srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	ua := userAssertionOf(alice)
	if ua == nil || ua.hashed() != cache.AssertionHash(ua.token) {
		t.Errorf("remembered hash %v", ua)
	}
	var tokErr error
	if n := testing.AllocsPerRun(100, func() { _, tokErr = src.Token(alice, req) }); n != 0 || tokErr != nil {
		t.Errorf("a cached on-behalf-of token costs %v allocations (%v), want 0", n, tokErr)
	}
	if _, ok := UserAssertionFromContext(ContextWithUserAssertion(bg(), "")); ok {
		t.Error("an empty assertion reported as carried")
	}
}

// TestCallConfigKeepsNoValues checks that a call's options never reach a
// later call (their configs are built in pooled memory) and that
// building one allocates nothing.
func TestCallConfigKeepsNoValues(t *testing.T) {
	first, err := newCallConfig(Tenant("fabrikam.com"), Claims(`{"access_token":{}}`), ForceRefresh(), LoginHint("a@b"))
	if err != nil || first.tenant != "fabrikam.com" || first.claims == "" || !first.forceRefresh || first.loginHint != "a@b" {
		t.Fatalf("%+v, %v", first, err)
	}
	for _, opts := range [][]CallOption{nil, {ForceRefresh()}, {nil}} {
		c, err := newCallConfig(opts...)
		if err != nil || c.tenant != "" || c.claims != "" || c.loginHint != "" || c.given&^optForceRefresh != 0 {
			t.Errorf("%d options: %+v, %v: an earlier call's values", len(opts), c, err)
		}
	}
	opts := []CallOption{Tenant("fabrikam.com")}
	if n := testing.AllocsPerRun(100, func() { _, err = newCallConfig(opts...) }); n != 0 || err != nil {
		t.Errorf("newCallConfig allocates %v times (%v)", n, err)
	}
}

// TestAcquireTokenForClientTenantCachedAllocations pins what a cached
// token of another tenant costs in allocations: the tenant's authority
// path and the result's scopes, nothing per option.
func TestAcquireTokenForClientTenantCachedAllocations(t *testing.T) {
	_, app := newDaemon(t)
	scopes := []string{graphDefault}
	opts := []CallOption{Tenant("fabrikam.com")}
	if _, err := app.AcquireTokenForClient(bg(), scopes, opts...); err != nil {
		t.Fatal(err)
	}
	var err error
	var r Result
	if n := testing.AllocsPerRun(100, func() { r, err = app.AcquireTokenForClient(bg(), scopes, opts...) }); n > 2 || err != nil || !r.FromCache {
		t.Errorf("a cached token of another tenant costs %v allocations (%v, from cache %v), want at most 2", n, err, r.FromCache)
	}
}

// TestClientSourceServesAgainOnlyWhatTheCacheHolds checks that a token
// ClientSource serves again without a cache lookup is always the one the
// cache would serve: a new token after a forced refresh, after the
// application's tokens are removed, after the cache's contents are
// replaced, and once the token nears its expiry; each set of scopes and
// tenant gets its own.
func TestClientSourceServesAgainOnlyWhatTheCacheHolds(t *testing.T) {
	srv, app := newDaemon(t)
	srv.AddAPI(authtest.API{Audience: "https://vault.azure.net", Scopes: []string{"read"}})
	src := app.ClientSource()
	graph := bearer.TokenRequest{Scopes: []string{graphDefault}}
	vault := bearer.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}
	fabrikam := bearer.TokenRequest{Scopes: []string{graphDefault}, TenantID: "fabrikam.com"}
	cached := func(req bearer.TokenRequest) string {
		t.Helper()
		r, err := app.AcquireTokenForClient(bg(), req.Scopes, Tenant(req.TenantID))
		if err != nil || !r.FromCache {
			t.Fatalf("cache: %v, from cache %v", err, r.FromCache)
		}
		return r.AccessToken
	}
	token := func(req bearer.TokenRequest) string {
		t.Helper()
		tok, err := src.Token(bg(), req)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	// check serves req twice (the second time without a lookup) and
	// compares with what the cache holds.
	check := func(step string, req bearer.TokenRequest) string {
		t.Helper()
		first, again := token(req), token(req)
		if c := cached(req); first != c || again != c {
			t.Errorf("%s: served %.12s… then %.12s…, the cache holds %.12s…", step, first, again, c)
		}
		return first
	}

	t1 := check("first", graph)
	v1 := check("another resource", vault)
	f1 := check("another tenant", fabrikam)
	for i := range 3 { // alternating keys: each still gets its own token
		if token(graph) != t1 || token(vault) != v1 || token(fabrikam) != f1 {
			t.Fatalf("round %d: a key got another key's token", i)
		}
	}
	if n := srv.TokenRequests(); n != 3 {
		t.Fatalf("%d token requests, want 3", n)
	}

	forced, err := app.AcquireTokenForClient(bg(), graph.Scopes, ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	if t2 := check("after a forced refresh", graph); t2 != forced.AccessToken || t2 == t1 {
		t.Errorf("after a forced refresh: the old token")
	}

	if err := app.RemoveTokensForClient(bg()); err != nil {
		t.Fatal(err)
	}
	before := srv.TokenRequests()
	t3, err := src.Token(bg(), graph)
	if err != nil {
		t.Fatal(err)
	}
	if t3.AccessToken == forced.AccessToken || srv.TokenRequests() != before+1 {
		t.Errorf("after RemoveTokensForClient: a removed token served (%d token requests)", srv.TokenRequests()-before)
	}
	check("after the removal", graph)

	if err := app.cache.UnmarshalMSAL([]byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	before = srv.TokenRequests()
	if t4 := token(graph); t4 == t3.AccessToken || srv.TokenRequests() != before+1 {
		t.Errorf("after the cache's contents were replaced: a token no longer cached served")
	}
	t4 := check("after the replacement", graph)

	tok, err := src.Token(bg(), graph)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetNow(tok.ExpiresOn.Add(-4 * time.Minute)) // within the cache's margin
	before = srv.TokenRequests()
	if t5 := token(graph); t5 == t4 || srv.TokenRequests() != before+1 {
		t.Errorf("near expiry: the old token served (%d token requests)", srv.TokenRequests()-before)
	}
}

// TestOnBehalfOfSourceServesAgainOnlyWhatTheCacheHolds checks the token a
// user's context keeps for OnBehalfOfSource: served again to that
// context only while the cache holds it (a forced refresh replaces it),
// never to another user's context, nor by another application's source.
func TestOnBehalfOfSourceServesAgainOnlyWhatTheCacheHolds(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	other := m.app(t) // another application (its own cache) with the same identity
	src, otherSrc := app.OnBehalfOfSource(), other.OnBehalfOfSource()
	req := bearer.TokenRequest{Scopes: downstreamRead}
	aliceAssertion := m.assertion(aliceName)
	alice := ContextWithUserAssertion(bg(), aliceAssertion)
	bob := ContextWithUserAssertion(bg(), m.assertion(bobName))
	token := func(src bearer.TokenSource, ctx context.Context) string {
		t.Helper()
		tok, err := src.Token(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	a1 := token(src, alice)
	for range 3 { // kept from the second cached answer on
		if token(src, alice) != a1 {
			t.Fatal("alice: another token from the cache")
		}
	}
	if b1 := token(src, bob); b1 == a1 {
		t.Error("bob got alice's token")
	}
	if n := m.srv.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	// Another application's source, with alice's context: its own token
	// (its own cache), not the one alice's context keeps.
	if o1 := token(otherSrc, alice); o1 == a1 || m.srv.TokenRequests() != 3 {
		t.Errorf("another application's source: alice's kept token, or no token request of its own")
	}
	forced, err := app.AcquireTokenOnBehalfOf(bg(), aliceAssertion, req.Scopes, ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	if a2 := token(src, alice); a2 != forced.AccessToken || a2 == a1 {
		t.Errorf("after a forced refresh: the old token kept")
	}
}

// TestClientSourceKeepsItsTokenRecentlyUsed serves one app token through
// ClientSource while 64,000 other tenants' tokens pass through a cache
// capped at 6,400 entries, and the clock moves 640 s: no second token
// request. The source serves its kept token without a lookup only while
// the cache's generation holds; every insert changes it, so the next call
// looks the token up, which marks its partition recently used, and the
// cache's least-recently-used eviction never picks it however rarely the
// slot lets a call reach the cache.
func TestClientSourceKeepsItsTokenRecentlyUsed(t *testing.T) {
	store := cache.New(cache.WithMaxEntries(6400))
	srv, app := newDaemon(t, WithCache(store))
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	first, err := src.Token(bg(), req)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.authorityFor(callConfig{})
	if err != nil {
		t.Fatal(err)
	}
	env, _, ok := app.cacheKeyOf(a)
	if !ok {
		t.Fatal("cache key unknown")
	}
	r := cache.Response{ClientID: daemonID, Scopes: []string{graphDefault}, AccessToken: "eyJ0eXAiOiJKV1QifQ.e30.c2ln", Environment: env}
	for i := range 64_000 {
		srv.Advance(10 * time.Millisecond) // 640 s in all, within the token's life
		now := srv.Now()
		r.Realm, r.ExpiresOn = fmt.Sprintf("%08x-170f-4ae3-a5fc-db742f13f25a", i), now.Add(time.Hour)
		if err := store.StoreResponse(bg(), r, now); err != nil {
			t.Fatal(err)
		}
		tok, err := src.Token(bg(), req)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != first.AccessToken {
			t.Fatalf("after %d other tenants: another token than the first (%d token requests)", i+1, srv.TokenRequests())
		}
	}
	if st := store.Stats(); st.Entries > 6400 {
		t.Errorf("the cache holds %d entries, over its cap", st.Entries)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
