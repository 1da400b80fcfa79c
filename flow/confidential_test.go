package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

func TestNewConfidential(t *testing.T) {
	tests := []struct {
		name     string
		clientID string
		cred     credential.Credential
		opts     []Option
		want     error
	}{
		{"empty_secret", "app", credential.Secret(""), nil, credential.ErrEmptySecret},
		{"nil_credential", "app", nil, nil, credential.ErrNoCredential},
		{"nil_assertion_callback", "app", credential.Assertion(nil), nil, credential.ErrNoCallback},
		{"empty_client_id", " ", credential.Secret("s"), nil, ErrInvalidOption},
		{"reserved_client_claim", "app", credential.Secret("s"), []Option{WithClientClaims(map[string]any{"aud": "x"})}, credential.ErrReservedClaim},
		{"http_authority", "app", credential.Secret("s"), []Option{WithAuthority("http://login.example.com/t")}, ErrInvalidAuthority},
		{"bad_region", "app", credential.Secret("s"), []Option{WithRegion("west us")}, ErrInvalidOption},
		{"bad_capability", "app", credential.Secret("s"), []Option{WithCapabilities("c p")}, ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := NewConfidential(tt.clientID, tt.cred, tt.opts...)
			if !errors.Is(err, tt.want) || app != nil {
				t.Errorf("NewConfidential = %v, %v; want an error wrapping %v", app, err, tt.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		app, err := NewConfidential("app", credential.Secret("s"), WithClientClaims(map[string]any{"xms_az_claim": "x"}))
		if err != nil {
			t.Fatal(err)
		}
		if app.cache == nil || app.authority.String() != DefaultAuthority {
			t.Errorf("cache %v, authority %s", app.cache, app.authority)
		}
		other := mustConfidential(t, "app", credential.Secret("s"))
		if other.cache == app.cache {
			t.Error("two applications share a default cache")
		}
		shared := cache.New()
		if a := mustConfidential(t, "app", credential.Secret("s"), WithCache(shared)); a.cache != shared {
			t.Error("WithCache is not used")
		}
	})
}

// TestAcquireTokenForClientAuthorities gets a token from every kind of
// authority authtest serves, plain and posing as Entra over TLS, and
// checks the requests it took and that the second call is cached.
func TestAcquireTokenForClientAuthorities(t *testing.T) {
	tlsSrv := authtest.NewTLSServer(t, authtest.WithHostNames("login.contoso.example"))
	plain := authtest.NewServer(t)
	for _, s := range []*authtest.Server{tlsSrv, plain} {
		s.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	}
	tests := []struct {
		name     string
		srv      *authtest.Server
		opts     []Option
		host     string         // the host the token request went to
		requests map[string]int // requests per endpoint for the first token
	}{
		{"entra_known_host", tlsSrv, []Option{WithAuthority("https://login.microsoftonline.com/contoso.com")},
			"login.microsoftonline.com", map[string]int{authtest.EndpointToken: 1}},
		{"entra_alias_host", tlsSrv, []Option{WithAuthority("https://login.windows.net/contoso.com")},
			"login.windows.net", map[string]int{authtest.EndpointToken: 1}},
		{"us_government", tlsSrv, []Option{WithAuthority("https://login.microsoftonline.us/contoso.com")},
			"login.microsoftonline.us", map[string]int{authtest.EndpointToken: 1}},
		{"china", tlsSrv, []Option{WithAuthority("https://login.chinacloudapi.cn/contoso.com")},
			"login.chinacloudapi.cn", map[string]int{authtest.EndpointToken: 1}},
		{"regional", tlsSrv, []Option{WithAuthority("https://login.microsoftonline.com/contoso.com"), WithRegion("westus2")},
			"westus2.login.microsoft.com", map[string]int{authtest.EndpointToken: 1}},
		{"regional_autodetected", tlsSrv, []Option{WithAuthority("https://login.microsoftonline.com/contoso.com"), WithRegion(AutoDetectRegion),
			WithRegionEndpoint(tlsSrv.URL), env(nil)},
			"eastus.login.microsoft.com", map[string]int{authtest.EndpointToken: 1, authtest.EndpointRegion: 1}},
		{"unknown_host_instance_discovery", tlsSrv, []Option{WithAuthority("https://login.contoso.example/contoso.com")},
			"login.contoso.example", map[string]int{authtest.EndpointDiscovery: 1, authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 1}},
		{"unknown_host_without_validation", tlsSrv, []Option{WithAuthority("https://login.contoso.example/contoso.com"), WithValidateAuthority(false)},
			"login.contoso.example", map[string]int{authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 1}},
		{"b2c", tlsSrv, []Option{WithAuthority(tlsSrv.B2CAuthority("contoso.onmicrosoft.com", "B2C_1_susi"))},
			"contoso.b2clogin.com", map[string]int{authtest.EndpointToken: 1}},
		{"b2c_tfp", tlsSrv, []Option{WithAuthority("https://contoso.b2clogin.com/tfp/contoso.onmicrosoft.com/B2C_1_susi")},
			"contoso.b2clogin.com", map[string]int{authtest.EndpointToken: 1}},
		{"ciam", tlsSrv, []Option{WithAuthority("https://contoso.ciamlogin.com/")},
			"contoso.ciamlogin.com", map[string]int{authtest.EndpointToken: 1}},
		{"ciam_tenant", tlsSrv, []Option{WithAuthority("https://contoso.ciamlogin.com/contoso.onmicrosoft.com")},
			"contoso.ciamlogin.com", map[string]int{authtest.EndpointToken: 1}},
		{"plain_loopback", plain, []Option{WithAuthority(plain.Authority("contoso.com"))},
			strings.TrimPrefix(plain.URL, "http://"), map[string]int{authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 1}},
		{"plain_loopback_instance_discovery", plain, []Option{WithAuthority(plain.Authority("contoso.com")), WithInstanceDiscoveryEndpoint(plain.URL)},
			strings.TrimPrefix(plain.URL, "http://"), map[string]int{authtest.EndpointDiscovery: 1, authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 1}},
		{"adfs", plain, []Option{WithAuthority(plain.ADFSAuthority())},
			strings.TrimPrefix(plain.URL, "http://"), map[string]int{authtest.EndpointToken: 1}},
		{"oidc", plain, []Option{WithOIDCAuthority(plain.OIDCIssuer())},
			strings.TrimPrefix(plain.URL, "http://"), map[string]int{authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.srv.ResetRequests()
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), append([]Option{WithHTTPClient(tt.srv.Client())}, tt.opts...)...)
			if tt.name == "regional_autodetected" {
				tt.srv.SetRegion("eastus")
			}
			r, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.srv.Verify(r.AccessToken); err != nil || r.FromCache || r.TokenType != "Bearer" || r.ExpiresOn.IsZero() {
				t.Errorf("result %v: %v", r, err)
			}
			reqs := tt.srv.Requests()
			got := map[string]int{}
			for _, q := range reqs {
				got[q.Endpoint]++
			}
			if len(got) != len(tt.requests) {
				t.Errorf("requests per endpoint %v, want %v", got, tt.requests)
			}
			for ep, n := range tt.requests {
				if got[ep] != n {
					t.Errorf("requests per endpoint %v, want %v", got, tt.requests)
					break
				}
			}
			tokReqs := tt.srv.RequestsTo(authtest.EndpointToken)
			if len(tokReqs) > 0 && tokReqs[0].Host != tt.host {
				t.Errorf("the token request went to %s, want %s", tokReqs[0].Host, tt.host)
			}
			again, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
			if err != nil || !again.FromCache || again.AccessToken != r.AccessToken {
				t.Errorf("second call: from cache %v, same token %v, %v", again.FromCache, again.AccessToken == r.AccessToken, err)
			}
			if n := len(tt.srv.Requests()); n != len(reqs) {
				t.Errorf("the second call made %d requests", n-len(reqs))
			}
		})
	}
}

func TestAcquireTokenForClientNeedsATenant(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	for _, tenant := range []string{"common", "organizations", "consumers", "Common"} {
		t.Run(tenant, func(t *testing.T) {
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
				WithAuthority("https://login.microsoftonline.com/"+tenant), WithHTTPClient(srv.Client()))
			_, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
			// The error names the tenant in its canonical, lower-case form.
			if want := strings.ToLower(tenant); !errors.Is(err, ErrTenantRequired) || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want ErrTenantRequired naming %s", err, want)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests were sent", n)
	}
	t.Run("tenant_per_call", func(t *testing.T) {
		app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
			WithAuthority("https://login.microsoftonline.com/organizations"), WithHTTPClient(srv.Client()))
		if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, Tenant("common")); !errors.Is(err, ErrTenantNotSupported) {
			t.Errorf("Tenant(common): %v", err)
		}
		r, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, Tenant("fabrikam.com"))
		if err != nil {
			t.Fatal(err)
		}
		claims, _ := srv.Verify(r.AccessToken)
		if claims["tid"] != srv.TenantID("fabrikam.com") {
			t.Errorf("tid %v, want fabrikam.com's", claims["tid"])
		}
		r, err = app.AcquireTokenForClient(bg(), []string{graphDefault}, Authority("https://login.microsoftonline.com/northwind.com"))
		if err != nil {
			t.Fatal(err)
		}
		if claims, _ := srv.Verify(r.AccessToken); claims["tid"] != srv.TenantID("northwind.com") {
			t.Errorf("Authority: tid %v, want northwind.com's", claims["tid"])
		}
		if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, Authority("https://login.microsoftonline.com/common")); !errors.Is(err, ErrTenantRequired) {
			t.Errorf("Authority(common): %v", err)
		}
		if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, Authority(srv.ADFSAuthority())); !errors.Is(err, ErrInvalidAuthority) {
			t.Errorf("Authority of another kind: %v", err)
		}
	})
	t.Run("no_scopes", func(t *testing.T) {
		app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
		for _, s := range [][]string{nil, {""}, {" "}} {
			if _, err := app.AcquireTokenForClient(bg(), s); !errors.Is(err, ErrNoScopes) {
				t.Errorf("scopes %q: %v", s, err)
			}
		}
	})
}

// TestClientCacheRules checks that Claims and ForceRefresh skip the
// cache's read but not its write, that tenants are cached apart, and
// RemoveTokensForClient.
func TestClientCacheRules(t *testing.T) {
	srv, app := newDaemon(t)
	scopes := []string{graphDefault}
	first, err := app.AcquireTokenForClient(bg(), scopes)
	if err != nil {
		t.Fatal(err)
	}
	forced, err := app.AcquireTokenForClient(bg(), scopes, ForceRefresh())
	if err != nil || forced.FromCache || forced.AccessToken == first.AccessToken {
		t.Fatalf("ForceRefresh: from cache %v, new token %v, %v", forced.FromCache, forced.AccessToken != first.AccessToken, err)
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes); !r.FromCache || r.AccessToken != forced.AccessToken {
		t.Error("the forced token did not replace the cached one")
	}
	claimed, err := app.AcquireTokenForClient(bg(), scopes, Claims(`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`))
	if err != nil || claimed.FromCache || claimed.AccessToken == forced.AccessToken {
		t.Fatalf("Claims: from cache %v, %v", claimed.FromCache, err)
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes); !r.FromCache || r.AccessToken != claimed.AccessToken {
		t.Error("the token with claims did not replace the cached one")
	}
	if _, err := app.AcquireTokenForClient(bg(), scopes, Claims(`[1]`)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("claims that are not an object: %v", err)
	}
	// Scopes are matched case-insensitively for Entra.
	if r, _ := app.AcquireTokenForClient(bg(), []string{strings.ToUpper(graphDefault)}); !r.FromCache {
		t.Error("scopes in upper case missed the cache")
	}

	other, err := app.AcquireTokenForClient(bg(), scopes, Tenant("fabrikam.com"))
	if err != nil || other.FromCache {
		t.Fatalf("another tenant: from cache %v, %v", other.FromCache, err)
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes, Tenant("fabrikam.com")); !r.FromCache || r.AccessToken != other.AccessToken {
		t.Error("the other tenant's token is not cached")
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken != claimed.AccessToken {
		t.Error("the other tenant's token replaced the app's own")
	}
	// Tenant names are case-insensitive: another spelling is the same
	// tenant, in a call and in another application sharing the cache.
	if r, _ := app.AcquireTokenForClient(bg(), scopes, Tenant("Fabrikam.COM")); !r.FromCache || r.AccessToken != other.AccessToken {
		t.Error("Tenant(\"Fabrikam.COM\") missed the token of fabrikam.com")
	}
	twin := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithCache(app.cache),
		WithAuthority(strings.Replace(app.authority.String(), "contoso.com", "Contoso.COM", 1)), WithHTTPClient(srv.Client()), WithClock(srv.Now))
	if r, _ := twin.AcquireTokenForClient(bg(), scopes); !r.FromCache || r.AccessToken != claimed.AccessToken {
		t.Errorf("an application whose authority spells the tenant %s missed the shared cache", twin.authority)
	}
	before := srv.TokenRequests()
	if err := app.RemoveTokensForClient(bg()); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []CallOption{nil, Tenant("fabrikam.com")} {
		if r, _ := app.AcquireTokenForClient(bg(), scopes, opt); r.FromCache {
			t.Errorf("a token survived RemoveTokensForClient (%v)", opt != nil)
		}
	}
	if n := srv.TokenRequests() - before; n != 2 {
		t.Errorf("%d token requests after the removal, want 2", n)
	}
}

// TestClientCacheMargin checks that a token is not served in the last
// min(5 min, lifetime/10) of its life: then the call gets a new one.
func TestClientCacheMargin(t *testing.T) {
	srv, app := newDaemon(t) // one-hour tokens: a 5-minute margin
	first, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
	if err != nil {
		t.Fatal(err)
	}
	srv.Advance(time.Hour - 5*time.Minute - time.Second)
	if r, _ := app.AcquireTokenForClient(bg(), []string{graphDefault}); !r.FromCache || r.AccessToken != first.AccessToken {
		t.Error("the token was not served just before its margin")
	}
	srv.Advance(time.Second)
	r, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
	if err != nil || r.FromCache || r.AccessToken == first.AccessToken {
		t.Errorf("at the margin: from cache %v, %v", r.FromCache, err)
	}
	if !r.RefreshOn.IsZero() {
		t.Errorf("a one-hour token has RefreshOn %v", r.RefreshOn)
	}
}

// TestClientBackgroundRefresh checks the proactive refresh: past
// RefreshOn, the cached token is served and one refresh runs in the
// background; a failed one keeps the token and is retried after a
// backoff on the application's clock.
func TestClientBackgroundRefresh(t *testing.T) {
	srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	g := newGate(srv.Transport())
	g.Open()
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(client(g)), WithClock(srv.Now))
	done := refreshes(app.app)
	scopes := []string{graphDefault}

	first, err := app.AcquireTokenForClient(bg(), scopes)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(2 * time.Hour); !first.RefreshOn.Equal(want) {
		t.Fatalf("RefreshOn = %v, want %v", first.RefreshOn, want)
	}
	srv.Advance(2*time.Hour - time.Second)
	if r, _ := app.AcquireTokenForClient(bg(), scopes); !r.FromCache || app.waiters() != 0 || len(app.flights.m) != 0 {
		t.Fatal("a refresh started before RefreshOn")
	}

	// Past RefreshOn: served from the cache, one refresh in the
	// background, however many calls find the token meanwhile.
	srv.Advance(time.Second)
	g.Shut()
	for range 5 {
		r, err := app.AcquireTokenForClient(bg(), scopes)
		if err != nil || !r.FromCache || r.AccessToken != first.AccessToken {
			t.Fatalf("past RefreshOn: from cache %v, %v", r.FromCache, err)
		}
	}
	waitFor(t, "the background refresh to reach the authority", func() bool { return g.Held() == 1 })
	g.Open()
	if err := recv(t, done); err != nil {
		t.Fatalf("background refresh: %v", err)
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2: one refresh however many calls", n)
	}
	second, _ := app.AcquireTokenForClient(bg(), scopes)
	if !second.FromCache || second.AccessToken == first.AccessToken || !second.RefreshOn.Equal(srv.Now().Add(2*time.Hour)) {
		t.Errorf("after the refresh: from cache %v, new token %v, RefreshOn %v", second.FromCache, second.AccessToken != first.AccessToken, second.RefreshOn)
	}

	// A failed refresh keeps the token in service, and is tried again
	// only after the backoff.
	srv.Advance(2 * time.Hour)
	srv.InjectFaults(1, authtest.Fault{Status: 400, Error: "invalid_request", ErrorCodes: []int{90002}})
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken != second.AccessToken {
		t.Fatal("the token was not served past RefreshOn")
	}
	if err := recv(t, done); err == nil {
		t.Fatal("the injected fault did not fail the refresh")
	}
	n := srv.TokenRequests()
	srv.Advance(firstRefreshBackoff - time.Second)
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken != second.AccessToken || srv.TokenRequests() != n || len(app.flights.m) != 0 {
		t.Fatal("a refresh was tried again within the backoff")
	}
	srv.Advance(time.Second)
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken != second.AccessToken {
		t.Fatal("the old token was not served while refreshing")
	}
	if err := recv(t, done); err != nil {
		t.Fatalf("the retried refresh: %v", err)
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken == second.AccessToken {
		t.Error("the retried refresh did not replace the token")
	}
}

// TestLateRefresh checks the races of a caller that finds a token due
// for refresh while another caller's refresh of it ends: a refresh that
// starts after another has replaced the token asks the authority nothing,
// and none starts within the backoff of one that failed. The late
// caller's refresh is started directly, with the token and time it read.
func TestLateRefresh(t *testing.T) {
	setup := func(t *testing.T) (*authtest.Server, *Confidential, <-chan error, grant, Result) {
		srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
		srv.SetNow(t0)
		srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
		app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
			WithHTTPClient(srv.Client()), WithClock(srv.Now))
		done := refreshes(app.app)
		first, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := app.endpointsOf(bg(), app.authority)
		if err != nil {
			t.Fatal(err)
		}
		srv.Advance(2 * time.Hour) // past RefreshOn
		return srv, app, done, grant{a: ep.authority, ep: ep, env: ep.environment, realm: ep.realm, scopes: []string{graphDefault}, fold: true}, first
	}
	flying := func(app *Confidential) int {
		app.flights.mu.Lock()
		defer app.flights.mu.Unlock()
		return len(app.flights.m)
	}
	t.Run("after_a_refresh_replaced_the_token", func(t *testing.T) {
		srv, app, done, g, first := setup(t)
		now := srv.Now()
		if r, err := app.AcquireTokenForClient(bg(), g.scopes); err != nil || r.AccessToken != first.AccessToken {
			t.Fatalf("past RefreshOn: %v", err)
		}
		if err := recv(t, done); err != nil {
			t.Fatalf("background refresh: %v", err)
		}
		n := srv.TokenRequests()
		app.refresh(bg(), g, first.RefreshOn, now)
		if err := recv(t, done); err != nil {
			t.Fatalf("late refresh: %v", err)
		}
		if got := srv.TokenRequests(); got != n {
			t.Errorf("%d more token requests for a token already refreshed, want none", got-n)
		}
	})
	t.Run("after_a_refresh_failed", func(t *testing.T) {
		srv, app, done, g, first := setup(t)
		now := srv.Now()
		srv.InjectFaults(1, authtest.Fault{Status: 400, Error: "invalid_request", ErrorCodes: []int{90002}})
		if r, err := app.AcquireTokenForClient(bg(), g.scopes); err != nil || r.AccessToken != first.AccessToken {
			t.Fatalf("past RefreshOn: %v", err)
		}
		// The late caller starts its refresh as soon as the failed one
		// has left the flights.
		waitFor(t, "the failed refresh to end", func() bool { return flying(app) == 0 })
		app.refresh(bg(), g, first.RefreshOn, now)
		if flying(app) != 0 {
			t.Error("a refresh started within the backoff of a failed one")
		}
		if err := recv(t, done); err == nil {
			t.Fatal("the injected fault did not fail the refresh")
		}
		if n := srv.TokenRequests(); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
	})
}

// TestOneRefreshUnderConcurrency has callers find a token due for
// refresh, over and over, while its one refresh succeeds or fails: on the
// stopped clock the refreshed token is not due and a failed refresh's
// backoff never passes, so no second refresh may start.
func TestOneRefreshUnderConcurrency(t *testing.T) {
	for _, fail := range []bool{false, true} {
		name := "refresh_succeeds"
		if fail {
			name = "refresh_fails"
		}
		t.Run(name, func(t *testing.T) {
			srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
			srv.SetNow(t0)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
				WithHTTPClient(srv.Client()), WithClock(srv.Now))
			var ended atomic.Bool
			app.onRefreshed = func(string, error) { ended.Store(true) }
			scopes := []string{graphDefault}
			if _, err := app.AcquireTokenForClient(bg(), scopes); err != nil {
				t.Fatal(err)
			}
			srv.Advance(2 * time.Hour) // past RefreshOn
			if fail {
				srv.InjectFaults(100, authtest.Fault{Status: 400, Error: "invalid_request", ErrorCodes: []int{90002}})
			}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					// Until the refresh has ended, then as many calls again.
					calls := 0
					for ; !ended.Load(); calls++ {
						if _, err := app.AcquireTokenForClient(bg(), scopes); err != nil {
							t.Error(err)
							return
						}
					}
					for range calls + 100 {
						if _, err := app.AcquireTokenForClient(bg(), scopes); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			waitFor(t, "every refresh to end", func() bool {
				app.flights.mu.Lock()
				defer app.flights.mu.Unlock()
				return len(app.flights.m) == 0
			})
			if n := srv.TokenRequests(); n != 2 {
				t.Errorf("%d token requests, want 2: the first and one refresh", n)
			}
		})
	}
}

// TestClientCallsCoalesced checks that 50 concurrent identical calls
// make one token request.
func TestClientCallsCoalesced(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	g := newGate(srv.Transport())
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(client(g)))
	const n = 50
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = app.AcquireTokenForClient(bg(), []string{graphDefault}) })
	}
	waitFor(t, "50 callers to wait on one flight", func() bool { return app.waiters() == n })
	g.Open()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].AccessToken != results[0].AccessToken {
			t.Fatalf("call %d: %v", i, errs[i])
		}
	}
	if got := srv.TokenRequests(); got != 1 {
		t.Errorf("%d token requests for %d concurrent calls, want 1", got, n)
	}
}

// TestLateFlightFindsTheCachedToken checks the race of concurrent first
// calls: a plain call that missed the cache, and whose flight starts only
// after another call's flight has cached the token, is served that token
// without a second request. The late caller's flight is started directly.
func TestLateFlightFindsTheCachedToken(t *testing.T) {
	t.Run("client_credentials", func(t *testing.T) {
		srv, app := newDaemon(t)
		first, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := app.endpointsOf(bg(), app.authority)
		if err != nil {
			t.Fatal(err)
		}
		r, err := app.fetchOnce(bg(), grant{a: ep.authority, ep: ep, env: ep.environment, realm: ep.realm, scopes: []string{graphDefault}, fold: true}, callConfig{})
		if err != nil || !r.FromCache || r.AccessToken != first.AccessToken {
			t.Errorf("late flight: from cache %v, same token %v, %v", r.FromCache, r.AccessToken == first.AccessToken, err)
		}
		if n := srv.TokenRequests(); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
	})
	t.Run("on_behalf_of", func(t *testing.T) {
		m := newMiddleTier(t, authtest.Client{})
		app := m.app(t)
		alice := m.assertion(aliceName)
		first, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := app.endpointsOf(bg(), app.authority)
		if err != nil {
			t.Fatal(err)
		}
		g := grant{a: ep.authority, ep: ep, env: ep.environment, realm: ep.realm, scopes: downstreamRead, fold: true, assertion: alice, hash: cache.AssertionHash(alice)}
		r, err := app.fetchOnce(bg(), g, callConfig{})
		if err != nil || !r.FromCache || r.AccessToken != first.AccessToken || r.IDToken != first.IDToken || r.Account != first.Account {
			t.Errorf("late flight: from cache %v, same token %v, same ID token %v, account %s: %v",
				r.FromCache, r.AccessToken == first.AccessToken, r.IDToken == first.IDToken, dumpAccount(r.Account), err)
		}
		if got := m.grants(); len(got) != 1 {
			t.Errorf("grants %v, want the first call's only", got)
		}
	})
}

// TestClientCallerGivesUp checks that a caller whose context ends stops
// waiting at once, and that the request is cancelled when nobody waits.
func TestClientCallerGivesUp(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	g := newGate(srv.Transport())
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(client(g)))
	ctx, cancel := context.WithCancel(bg())
	errc := make(chan error, 1)
	go func() {
		_, err := app.AcquireTokenForClient(ctx, []string{graphDefault})
		errc <- err
	}()
	waitFor(t, "the call to wait", func() bool { return app.waiters() == 1 })
	cancel()
	if err := recv(t, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	waitFor(t, "the flight to end", func() bool { app.flights.mu.Lock(); defer app.flights.mu.Unlock(); return len(app.flights.m) == 0 })
	g.Open()
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Errorf("a new call after the cancelled one: %v", err)
	}
}

// TestClientCredentialKinds gets tokens with a certificate, an assertion
// callback (a federated credential) and an assertion file.
func TestClientCredentialKinds(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	cert, key := rsaCertificate(t)
	const issuer, subject = "https://token.actions.example", "repo:contoso/app:ref:refs/heads/main"
	srv.AddClient(authtest.Client{ID: daemonID, Certificates: []*x509.Certificate{cert},
		FederatedCredentials: []authtest.FederatedCredential{{Issuer: issuer, Subject: subject}}})
	federated := func() string {
		return srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: authtest.TokenExchangeAudience, ClientID: "ci",
			Claims: map[string]any{"iss": issuer, "sub": subject}})
	}
	certCred, err := credential.Certificate([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(federated()), 0o600); err != nil {
		t.Fatal(err)
	}
	var calls int
	tests := []struct {
		name string
		cred credential.Credential
		form string // the form field that carried the credential
	}{
		{"certificate", certCred, "client_assertion"},
		{"assertion_callback", credential.Assertion(func(ctx context.Context, req credential.AssertionRequest) (string, error) {
			calls++
			if req.ClientID != daemonID || req.TokenEndpoint != "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token" {
				t.Errorf("assertion request %+v", req)
			}
			return federated(), nil
		}), "client_assertion"},
		{"assertion_file", credential.AssertionFile(path), "client_assertion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			app := mustConfidential(t, daemonID, tt.cred, WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
			r, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.Verify(r.AccessToken)
			if err != nil || claims["appid"] != daemonID {
				t.Errorf("token claims %v: %v", claims, err)
			}
			if f := srv.RequestsTo(authtest.EndpointToken)[0].Form; f.Get(tt.form) == "" || f.Get("client_secret") != "" {
				t.Errorf("the request carried no %s", tt.form)
			}
		})
	}
	if calls != 1 {
		t.Errorf("the assertion callback was called %d times, want 1", calls)
	}
}
