package flow

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
)

func TestSilentRefreshesWithTheCachedRefreshToken(t *testing.T) {
	srv := userServer(t)
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}, StrictRotation: true})
	app := publicApp(t, srv, "organizations", WithCapabilities("cp1"))
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, []string{"User.Read"})
	rt1 := cachedRefreshToken(app.cache, pubID, "login.microsoftonline.com", r.Account.HomeAccountID)
	if rt1 == "" || rt1 != r.RefreshToken {
		t.Fatalf("the sign-in's refresh token is not cached")
	}
	srv.Advance(2 * time.Hour) // the access token expired
	s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
	if err != nil {
		t.Fatal(err)
	}
	if s.FromCache || s.AccessToken == r.AccessToken || s.RefreshToken == "" || s.RefreshToken == rt1 || s.Account != r.Account {
		t.Errorf("refreshed result %+v", s)
	}
	tr := srv.RequestsTo(authtest.EndpointToken)
	last := tr[len(tr)-1].Form
	if last.Get("grant_type") != "refresh_token" || last.Get("refresh_token") != rt1 || last.Get("client_info") != "1" ||
		last.Get("scope") != "User.Read openid offline_access profile" || last.Get("claims") != `{"access_token":{"xms_cc":{"values":["cp1"]}}}` {
		t.Errorf("refresh request %v", tr[len(tr)-1])
	}
	// The rotated refresh token replaced the redeemed one, which the
	// client's strict rotation now refuses.
	if rt2 := cachedRefreshToken(app.cache, pubID, "login.microsoftonline.com", r.Account.HomeAccountID); rt2 != s.RefreshToken {
		t.Errorf("the rotated refresh token is not the cached one")
	}
	if _, err := app.AcquireTokenByRefreshToken(bg(), rt1, []string{"User.Read"}); !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("the old refresh token is still good: %v", err)
	}
	// ForceRefresh asks the authority with the new one; Claims go with it.
	n := srv.CountRequests(authtest.EndpointToken)
	f, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account, ForceRefresh(), Claims(`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`))
	if err != nil || f.FromCache || srv.CountRequests(authtest.EndpointToken) != n+1 {
		t.Fatalf("ForceRefresh: %+v %v", f, err)
	}
	tr = srv.RequestsTo(authtest.EndpointToken)
	if c := tr[len(tr)-1].Form.Get("claims"); c != `{"access_token":{"nbf":{"essential":true,"value":"1"},"xms_cc":{"values":["cp1"]}}}` {
		t.Errorf("claims sent %s", c)
	}
	// The plain call now gets the forced token from the cache.
	if c, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account); err != nil || !c.FromCache || c.AccessToken != f.AccessToken {
		t.Errorf("after ForceRefresh: %+v %v", c, err)
	}
}

func TestSilentRefusalsNeedInteraction(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(srv *authtest.Server, r Result)
		wantCode string
	}{
		{"revoked", func(srv *authtest.Server, r Result) { srv.RevokeRefreshTokens(aliceUser) }, "invalid_grant"},
		{"expired", func(srv *authtest.Server, r Result) { srv.Advance(91 * 24 * time.Hour) }, "invalid_grant"},
		{"interaction_required", func(srv *authtest.Server, r Result) {
			srv.InjectFaults(1, authtest.Fault{Error: "interaction_required", ErrorCodes: []int{50079}, Claims: `{"access_token":{"capolids":{"essential":true,"values":["1"]}}}`})
		}, "interaction_required"},
		{"consent_required", func(srv *authtest.Server, r Result) {
			srv.InjectFaults(1, authtest.Fault{Error: "invalid_grant", Suberror: "consent_required", ErrorCodes: []int{65001}})
		}, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := userServer(t)
			app := webApp(t, srv, contosoID)
			r := userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
			srv.Advance(2 * time.Hour)
			tt.setup(srv, r)
			_, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account, Claims(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`))
			var ie *InteractionError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInteractionRequired) {
				t.Fatalf("%v (%T), want an *InteractionError", err, err)
			}
			if fe := asError(t, err); fe.Code != tt.wantCode {
				t.Errorf("authority error %v, want %s", fe, tt.wantCode)
			}
			if !strings.Contains(ie.Claims, `"acrs"`) {
				t.Errorf("the call's claims are not carried: %q", ie.Claims)
			}
			if tt.name == "interaction_required" && !strings.Contains(ie.Claims, `"capolids"`) {
				t.Errorf("the authority's claims are not carried: %q", ie.Claims)
			}
			if leaked := secretsIn(err.Error(), r.RefreshToken, r.AccessToken, r.IDToken, webSecret); len(leaked) > 0 {
				t.Errorf("the error shows secrets: %v", err)
			}
		})
	}
	t.Run("no_refresh_token", func(t *testing.T) {
		srv := userServer(t)
		app := webApp(t, srv, contosoID, WithExcludeScopes("offline_access"))
		r := userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
		if r.RefreshToken != "" {
			t.Fatalf("a refresh token without offline_access")
		}
		srv.Advance(2 * time.Hour)
		n := srv.CountRequests(authtest.EndpointToken)
		_, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
		if !errors.Is(err, ErrInteractionRequired) || srv.CountRequests(authtest.EndpointToken) != n {
			t.Errorf("%v", err)
		}
	})
	t.Run("zero_account", func(t *testing.T) {
		srv := userServer(t)
		app := webApp(t, srv, contosoID)
		if _, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, Account{}); !errors.Is(err, ErrInteractionRequired) {
			t.Errorf("%v", err)
		}
	})
	t.Run("server_error_is_not_interaction", func(t *testing.T) {
		srv := userServer(t)
		app := webApp(t, srv, contosoID, WithRetryPolicy(RetryPolicy{Sleep: (&sleeps{}).sleep}))
		r := userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
		srv.Advance(2 * time.Hour)
		srv.InjectFaults(3, authtest.Fault{Status: 503})
		_, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
		if err == nil || errors.Is(err, ErrInteractionRequired) {
			t.Errorf("an outage asks for interaction: %v", err)
		}
	})
}

func TestSilentGuestTenantAndMultiTenantRealm(t *testing.T) {
	srv := userServer(t)
	app := publicApp(t, srv, "organizations")
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, []string{"User.Read"})
	if r.Account.TenantID != "organizations" || r.IDTokenClaims["tid"] != contosoID {
		t.Fatalf("a sign-in through organizations is cached under %q (tid %v), want organizations, as MSAL caches it", r.Account.TenantID, r.IDTokenClaims["tid"])
	}
	// The ID token's issuer was the {tenantid} template filled with tid.
	if r.IDTokenClaims["iss"] != srv.Issuer(contosoID) {
		t.Errorf("iss %v", r.IDTokenClaims["iss"])
	}
	g, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account, Tenant("fabrikam.com"))
	if err != nil {
		t.Fatal(err)
	}
	fab := srv.TenantID("fabrikam.com")
	if c := claimsOf(t, g.AccessToken); g.FromCache || c["tid"] != fab || g.Account.TenantID != "fabrikam.com" || g.Account.HomeAccountID != r.Account.HomeAccountID {
		t.Errorf("guest token %v, account %+v", c["tid"], g.Account.cacheAccount())
	}
	if again, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account, Tenant("fabrikam.com")); err != nil || !again.FromCache {
		t.Errorf("the guest token is not cached: %+v %v", again, err)
	}
	if home, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account); err != nil || !home.FromCache || home.AccessToken != r.AccessToken {
		t.Errorf("the home token: %+v %v", home, err)
	}
	accts, _ := app.Accounts(bg(), aliceUser)
	if len(accts) != 2 {
		t.Errorf("accounts %v, want the home and guest tenants", accts)
	}
	if err := app.RemoveAccount(bg(), r.Account); err != nil {
		t.Fatal(err)
	}
	if accts, _ := app.Accounts(bg(), ""); len(accts) != 0 {
		t.Errorf("after RemoveAccount: %v", accts)
	}
	if _, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account); !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("silent after RemoveAccount: %v", err)
	}
}

func TestSilentFamilyRefreshToken(t *testing.T) {
	srv := userServer(t)
	const otherID = "66666666-aaaa-4bbb-8ccc-000000000006"
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}, FamilyID: "1"})
	srv.AddClient(authtest.Client{ID: otherID, Public: true, FamilyID: "1"})
	shared := cache.New()
	first := publicApp(t, srv, "organizations", WithCache(shared))
	r := userSignIn(t, srv, first, pubRedirect, aliceUser, []string{"User.Read"})
	second := mustPublic(t, otherID, appOpts(srv, "organizations", WithCache(shared))...)
	accts, err := second.Accounts(bg(), "")
	if err != nil || len(accts) != 1 {
		t.Fatalf("the family member sees accounts %v, %v", accts, err)
	}
	s, err := second.AcquireTokenSilent(bg(), []string{"Mail.Read"}, accts[0])
	if err != nil {
		t.Fatal(err)
	}
	tr := srv.RequestsTo(authtest.EndpointToken)
	last := tr[len(tr)-1].Form
	if last.Get("client_id") != otherID || last.Get("refresh_token") != r.RefreshToken || claimsOf(t, s.AccessToken)["azp"] != otherID {
		t.Errorf("the family member did not redeem the family's refresh token: %v", tr[len(tr)-1])
	}
	// A non-family app sharing the cache is refused the family's token by
	// the authority and has none of its own: interaction required.
	const stranger = "77777777-aaaa-4bbb-8ccc-000000000007"
	srv.AddClient(authtest.Client{ID: stranger, Public: true})
	st := mustPublic(t, stranger, appOpts(srv, "organizations", WithCache(shared))...)
	if _, err := st.AcquireTokenSilent(bg(), []string{"User.Read"}, accts[0]); !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("a stranger: %v", err)
	}
}

func TestSilentConcurrentCallsRedeemOnce(t *testing.T) {
	srv := userServer(t)
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}, StrictRotation: true})
	g := newGate(srv.Transport())
	app := mustPublic(t, pubID, WithAuthority(srv.Authority(contosoID)), WithHTTPClient(client(g)), WithClock(srv.Now))
	g.Open()
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, []string{"User.Read"})
	srv.Advance(2 * time.Hour)
	g.Shut()
	const callers = 8
	var wg sync.WaitGroup
	results := make(chan Result, callers)
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
			results <- res
			errs <- err
		}()
	}
	waitFor(t, "every caller to wait on the one refresh", func() bool { return app.waiters() == callers })
	g.Open()
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller failed (a strict refresh token was redeemed twice?): %v", err)
		}
	}
	var tok string
	for res := range results {
		if tok == "" {
			tok = res.AccessToken
		}
		if res.AccessToken != tok {
			t.Errorf("callers got different tokens")
		}
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 2 {
		t.Errorf("%d token requests, want the sign-in's and one refresh", n)
	}
}

func TestSilentBackgroundRefresh(t *testing.T) {
	srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(4*time.Hour))
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID})
	app := publicApp(t, srv, contosoID)
	done := refreshes(app.app)
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, []string{"User.Read"})
	srv.Advance(2*time.Hour + time.Minute) // past refresh_in, the token still valid
	s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
	if err != nil || !s.FromCache || s.AccessToken != r.AccessToken {
		t.Fatalf("a token due for refresh is served: %+v %v", s, err)
	}
	if err := recv(t, done); err != nil {
		t.Fatalf("background refresh: %v", err)
	}
	n, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
	if err != nil || !n.FromCache || n.AccessToken == r.AccessToken {
		t.Errorf("after the background refresh: %+v %v", n, err)
	}
}

// BenchmarkAccountSourceCached is the cost of a user's token from
// AccountSource's cache, what a bearer.Transport pays on every request of
// a signed-in user.
func BenchmarkAccountSourceCached(b *testing.B) {
	srv := authtest.NewTLSServer(b)
	srv.AddClient(authtest.Client{ID: pubID, Public: true})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID})
	app := mustPublic(b, pubID, WithAuthority(srv.Authority(contosoID)), WithHTTPClient(srv.Client()))
	r, err := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, []string{"User.Read"})
	if err != nil {
		b.Fatal(err)
	}
	src := app.AccountSource(r.Account)
	req := bearer.TokenRequest{Scopes: []string{"User.Read"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(bg(), req); err != nil {
			b.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		b.Errorf("%d token requests", n)
	}
}

func TestSilentFallsBackToTheOwnRefreshTokenWhenTheFamilyTokenIsRefused(t *testing.T) {
	srv := userServer(t)
	srv.AddClient(authtest.Client{ID: pubID, Public: true, RedirectURIs: []string{pubRedirect}, FamilyID: "1"})
	c := cache.New()
	app := publicApp(t, srv, contosoID, WithCache(c))
	r := userSignIn(t, srv, app, pubRedirect, aliceUser, []string{"User.Read"})
	env := r.Account.Environment
	now := srv.Now()
	// The application's own refresh token, and a family one (of another
	// member) the authority will refuse; the cache says the application
	// belongs to the family.
	for _, resp := range []cache.Response{
		{Environment: env, ClientID: pubID, HomeAccountID: r.Account.HomeAccountID, RefreshToken: r.RefreshToken},
		{Environment: env, ClientID: "another-member", HomeAccountID: r.Account.HomeAccountID, RefreshToken: "refused-family-refresh-token", FamilyID: "1"},
		{Environment: env, ClientID: pubID, FamilyID: "1"},
	} {
		if err := c.StoreResponse(bg(), resp, now); err != nil {
			t.Fatal(err)
		}
	}
	srv.Advance(2 * time.Hour)
	s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
	if err != nil || s.FromCache {
		t.Fatalf("%+v %v", s, err)
	}
	tr := srv.RequestsTo(authtest.EndpointToken)
	if len(tr) != 3 || tr[1].Form.Get("refresh_token") != "refused-family-refresh-token" || tr[2].Form.Get("refresh_token") != r.RefreshToken {
		t.Errorf("requests %v: want the family's token, then the application's own", tr)
	}
}
