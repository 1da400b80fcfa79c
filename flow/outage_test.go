package flow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// discoveryOutage is an outage of an authority's discovery document: every
// read answers 503.
var discoveryOutage = authtest.Fault{Endpoint: authtest.EndpointOpenIDConfiguration, Status: 503}

// TestTokensDuringDiscoveryOutage checks that an authority whose
// discovery document cannot be read fails no token call while a valid
// token exists or the document read before can serve: a cached token is
// served without reading the document (the cache is read first); a call
// that needs the authority uses the document read before, however old,
// while it is read again in the background, once per backoff.
func TestTokensDuringDiscoveryOutage(t *testing.T) {
	type setup struct {
		srv  *authtest.Server
		app  *Confidential
		call func(opts ...CallOption) (Result, error)
	}
	flows := []struct {
		name     string
		endpoint string // what the outage hits first in a discovery
		new      func(t *testing.T, opts ...Option) setup
	}{
		{"client_credentials_oidc", authtest.EndpointOpenIDConfiguration, func(t *testing.T, opts ...Option) setup {
			srv := authtest.NewServer(t)
			srv.SetNow(t0)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
				append([]Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, opts...)...)
			return setup{srv, app, func(opts ...CallOption) (Result, error) {
				return app.AcquireTokenForClient(bg(), []string{graphDefault}, opts...)
			}}
		}},
		{"client_credentials_instance_discovery", authtest.EndpointDiscovery, func(t *testing.T, opts ...Option) setup {
			// An Entra host Entra does not list: instance discovery names
			// its cache environment, so the cache key needs a discovery.
			srv := authtest.NewTLSServer(t, authtest.WithHostNames("login.contoso.example"))
			srv.SetNow(t0)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
				append([]Option{WithAuthority("https://login.contoso.example/contoso.com"), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, opts...)...)
			return setup{srv, app, func(opts ...CallOption) (Result, error) {
				return app.AcquireTokenForClient(bg(), []string{graphDefault}, opts...)
			}}
		}},
		{"on_behalf_of_discovered_entra_host", authtest.EndpointOpenIDConfiguration, func(t *testing.T, opts ...Option) setup {
			srv := authtest.NewServer(t) // a loopback Entra host: discovered, not computed
			srv.SetNow(t0)
			srv.AddUser(authtest.User{Username: aliceName})
			srv.AddClient(authtest.Client{ID: middleID, Secret: middleSecret})
			srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
			srv.AddAPI(authtest.API{Audience: downstreamAPI, Scopes: []string{"read"}})
			app := mustConfidential(t, middleID, credential.Secret(middleSecret),
				append([]Option{WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, opts...)...)
			alice := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Scopes: []string{"access"}, Subject: aliceName,
				Lifetime: 48 * time.Hour})
			return setup{srv, app, func(opts ...CallOption) (Result, error) {
				return app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, opts...)
			}}
		}},
	}
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			var sl sleeps
			s := f.new(t, WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
			docReads := func() int { return s.srv.CountRequests(f.endpoint) }
			if _, err := s.call(); err != nil {
				t.Fatal(err)
			}
			// A token fetched 23 h 45 min later, with the document read
			// at first, lives until 24 h 45 min.
			s.srv.Advance(23*time.Hour + 45*time.Minute)
			cached, err := s.call()
			if err != nil || cached.FromCache || docReads() != 1 {
				t.Fatalf("a new token with the document read at first: from cache %v, %d document reads: %v", cached.FromCache, docReads(), err)
			}

			// At 24 h 15 min the document is past its 24 hours and cannot
			// be read; the token has 30 minutes left.
			s.srv.Advance(30 * time.Minute)
			s.srv.InjectFaults(1000, authtest.Fault{Endpoint: f.endpoint, Status: 503})
			r, err := s.call()
			if err != nil || !r.FromCache || r.AccessToken != cached.AccessToken {
				t.Fatalf("the cached token during the outage: from cache %v: %v", r.FromCache, err)
			}
			if n := docReads(); n != 1 {
				t.Errorf("%d document reads for a cached token, want none but the first", n-1)
			}

			// A call that needs the authority uses the old document; the
			// document is read again in the background, in one attempt,
			// then not before the backoff (5 s, doubled).
			forced := func(what string, wantReads int) {
				t.Helper()
				r, err := s.call(ForceRefresh())
				if err != nil || r.FromCache {
					t.Fatalf("%s: a forced refresh during the outage: %v", what, err)
				}
				s.app.resolver.settle()
				if n := docReads(); n != wantReads {
					t.Errorf("%s: %d document reads, want %d", what, n, wantReads)
				}
			}
			forced("first refresh", 2)
			forced("within the backoff", 2)
			s.srv.Advance(discoveryRetryAfterFailure)
			forced("after the backoff", 3)
			s.srv.Advance(discoveryRetryAfterFailure)
			forced("within the doubled backoff", 3)
			s.srv.ClearFaults()
			s.srv.Advance(discoveryRetryAfterFailure)
			forced("after the outage", 4)
			forced("with a fresh document", 4)
			if w := sl.got(); len(w) != 0 {
				t.Errorf("retry waits %v: a background read of the document makes one attempt", w)
			}
		})
	}
}

// TestMiddlewareDuringDiscoveryOutage checks that a web API whose
// authority cannot be read keeps serving callers whose tokens its kept
// keys verify, with the discovery document and keys read before however
// old; and that a flood of forged tokens during the outage makes a
// bounded number of reads (20 requests: at most 2 reads of each, not 60).
func TestMiddlewareDuringDiscoveryOutage(t *testing.T) {
	forged := func(m middleTier) []string {
		var out []string
		for i := range 20 {
			tok := m.assertion(aliceName)
			parts := strings.Split(tok, ".")
			if i%2 == 0 {
				// A signature that does not verify.
				sig := []byte(parts[2])
				if sig[5] = 'A'; parts[2][5] == 'A' {
					sig[5] = 'B'
				}
				out = append(out, parts[0]+"."+parts[1]+"."+string(sig))
			} else {
				out = append(out, forge(tok, `{"alg":"RS256","kid":"no-such-key","typ":"JWT"}`, parts[2]))
			}
		}
		return out
	}
	outage := func(m middleTier) {
		m.srv.InjectFaults(1000, discoveryOutage)
		m.srv.InjectFaults(1000, authtest.Fault{Endpoint: authtest.EndpointKeys, Status: 503})
	}

	t.Run("stale_document_and_keys", func(t *testing.T) {
		m := newMiddleTier(t, authtest.Client{})
		var sl sleeps
		a := newAPI(t, m, []Option{WithRetryPolicy(RetryPolicy{Sleep: sl.sleep})}, WithAudiences(middleAPI))
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		m.srv.Advance(24*time.Hour + time.Minute) // the document and the keys are past their day
		outage(m)
		m.srv.ResetRequests()
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 200 {
			t.Errorf("a valid token during the outage: %d %s", w.Code, w.Body)
		}
		for i, tok := range forged(m) {
			if w := a.call("Bearer " + tok); w.Code != 401 {
				t.Errorf("forged token %d during the outage: %d, want 401", i, w.Code)
			}
		}
		a.app.resolver.settle()
		a.app.keys.settle()
		docs, keys := m.srv.CountRequests(authtest.EndpointOpenIDConfiguration), m.srv.CountRequests(authtest.EndpointKeys)
		if docs < 1 || docs > 2 || keys < 1 || keys > 2 {
			t.Errorf("21 requests during the outage read the document %d times and the keys %d times, want 1 or 2 each", docs, keys)
		}
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 200 {
			t.Errorf("a valid token after the flood: %d", w.Code)
		}
	})

	t.Run("nothing_read_yet", func(t *testing.T) {
		m := newMiddleTier(t, authtest.Client{})
		var sl sleeps
		a := newAPI(t, m, []Option{WithRetryPolicy(RetryPolicy{Sleep: sl.sleep})}, WithAudiences(middleAPI))
		outage(m)
		for i, tok := range forged(m) {
			if w := a.call("Bearer " + tok); w.Code != 503 {
				t.Errorf("forged token %d, nothing read: %d, want 503", i, w.Code)
			}
		}
		// One discovery, of MaxRetries+1 attempts; no key read without
		// the document.
		if docs, keys := m.srv.CountRequests(authtest.EndpointOpenIDConfiguration), m.srv.CountRequests(authtest.EndpointKeys); docs != 3 || keys != 0 {
			t.Errorf("20 requests read the document %d times (want one discovery: 3 attempts) and the keys %d times", docs, keys)
		}
		m.srv.ClearFaults()
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 503 {
			t.Errorf("within the backoff of the failed discovery: %d, want 503", w.Code)
		}
		m.srv.Advance(discoveryRetryAfterFailure)
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 200 {
			t.Errorf("once the authority answers: %d %s", w.Code, w.Body)
		}
	})
}

// TestColdDiscoveryFailureIsShared checks that callers of an authority
// never discovered, during an outage, share one failed discovery per
// backoff and get its error, which says what failed.
func TestColdDiscoveryFailureIsShared(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	var sl sleeps
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithOIDCAuthority(srv.OIDCIssuer()),
		WithHTTPClient(srv.Client()), WithClock(srv.Now), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
	srv.InjectFaults(1000, discoveryOutage)
	for i := range 20 {
		_, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
		var fe *Error
		if !errors.Is(err, ErrDiscovery) || !errors.As(err, &fe) || fe.StatusCode != 503 {
			t.Fatalf("call %d: %v, want ErrDiscovery with the authority's 503", i, err)
		}
	}
	if n := srv.CountRequests(authtest.EndpointOpenIDConfiguration); n != 3 {
		t.Errorf("20 calls: %d document reads, want one discovery (3 attempts)", n)
	}
	srv.Advance(discoveryRetryAfterFailure)
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("after the backoff, still in the outage: %v", err)
	}
	if n := srv.CountRequests(authtest.EndpointOpenIDConfiguration); n != 6 {
		t.Errorf("%d document reads, want a second discovery after the backoff", n)
	}
	srv.ClearFaults()
	srv.Advance(discoveryRetryAfterFailure) // half the doubled backoff
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("within the doubled backoff: %v, want the kept failure", err)
	}
	srv.Advance(discoveryRetryAfterFailure)
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// TestStaleDocumentReadOnceUnderConcurrency checks that concurrent callers
// finding the discovery document stale are all served at once, and start
// one background read between them.
func TestStaleDocumentReadOnceUnderConcurrency(t *testing.T) {
	s := newServer(t)
	s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
	})
	clk := newClock()
	c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm"), WithClock(clk.Now))
	if _, err := c.endpointsFor(bg(), callConfig{}); err != nil {
		t.Fatal(err)
	}
	clk.Add(discoveryTTL)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			<-start
			if e, err := c.endpointsFor(bg(), callConfig{}); err != nil || e.token != s.URL+"/realm/oauth2/v2.0/token" {
				t.Errorf("endpoints %v: %v", e, err)
			}
		})
	}
	close(start)
	wg.Wait()
	c.resolver.settle()
	if n := s.count("/realm/.well-known/openid-configuration"); n != 2 {
		t.Errorf("%d document reads, want 2 (one background read of the stale one)", n)
	}
}

// TestStaleKeysReadOnceUnderConcurrency checks that concurrent callers of
// a web API whose keys are a day old are served with the kept keys, and
// start one background read of the keys between them.
func TestStaleKeysReadOnceUnderConcurrency(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), WithAudiences(middleAPI))
	serve := func(tok string) int {
		r := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if code := serve(m.assertion(aliceName)); code != 200 {
		t.Fatalf("status %d", code)
	}
	m.srv.Advance(jwksTTL + discoveryTTL/24)
	tok := m.assertion(aliceName)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			<-start
			if code := serve(tok); code != 200 {
				t.Errorf("status %d", code)
			}
		})
	}
	close(start)
	wg.Wait()
	app.resolver.settle()
	app.keys.settle()
	if n := m.srv.CountRequests(authtest.EndpointKeys); n != 2 {
		t.Errorf("%d key reads, want 2 (one background read of the stale keys)", n)
	}
	if n := m.srv.CountRequests(authtest.EndpointOpenIDConfiguration); n != 2 {
		t.Errorf("%d document reads, want 2 (one background read of the stale document)", n)
	}
}
