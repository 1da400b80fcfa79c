package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// metadataDoc is a discovery document of base (an authority URL).
func metadataDoc(base, issuer string) string {
	return fmt.Sprintf(`{"issuer":%q,"authorization_endpoint":"%[2]s/oauth2/v2.0/authorize","token_endpoint":"%[2]s/oauth2/v2.0/token",`+
		`"device_authorization_endpoint":"%[2]s/oauth2/v2.0/devicecode","end_session_endpoint":"%[2]s/oauth2/v2.0/logout",`+
		`"jwks_uri":"%[2]s/discovery/v2.0/keys","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt"],`+
		`"token_endpoint_auth_signing_alg_values_supported":["RS256","PS256"]}`, issuer, base)
}

func TestKnownAuthoritiesNeedNoRequest(t *testing.T) {
	for _, raw := range []string{
		"https://login.microsoftonline.com/contoso.com",
		"https://login.microsoftonline.com/common",
		"https://login.windows.net/contoso.com",
		"https://login.microsoftonline.us/contoso.com",
		"https://login.chinacloudapi.cn/contoso.com",
		"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_susi",
		"https://login.microsoftonline.com/tfp/t/B2C_1_x",
		"https://contoso.ciamlogin.com/",
		"https://fs.contoso.com/adfs",
	} {
		t.Run(raw, func(t *testing.T) {
			c := mustCore(t, "cid", WithAuthority(raw), WithHTTPClient(refuseClient(t)))
			e, err := c.endpointsFor(context.Background(), callConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if e.token == "" || e.authorization == "" || e.discovered {
				t.Errorf("endpoints = %+v", e)
			}
			if c.authority.kind == kindEntra {
				e, err := c.endpointsFor(context.Background(), callConfig{tenant: "fabrikam.com"})
				if err != nil || e.authority.tenant != "fabrikam.com" {
					t.Fatalf("tenant override: %+v, %v", e, err)
				}
			}
		})
	}
}

// entraLike serves, over TLS for login.microsoftonline.com and
// login.contoso.example, instance discovery and the contoso host's
// discovery document.
func entraLike(t *testing.T, knownHost bool) *server {
	s := newServer(t, "login.microsoftonline.com", "login.contoso.example")
	s.handle("/common/discovery/instance", func(w http.ResponseWriter, r *http.Request) {
		if !knownHost {
			writeJSON(w, 400, `{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance.","error_codes":[50049],"correlation_id":"c-1"}`)
			return
		}
		writeJSON(w, 200, `{"tenant_discovery_endpoint":"https://login.contoso.example/tenant/v2.0/.well-known/openid-configuration","api-version":"1.1",`+
			`"metadata":[{"preferred_network":"login.contoso.example","preferred_cache":"cache.contoso.example","aliases":["login.contoso.example","sts.contoso.example"]}]}`)
	})
	s.handle("/tenant/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc("https://login.contoso.example/tenant", "https://login.contoso.example/tid-1/v2.0"))
	})
	return s
}

func TestInstanceDiscoveryOfUnknownHost(t *testing.T) {
	s := entraLike(t, true)
	lc := newLoopbackClient(t, s)
	c := mustCore(t, "cid", WithAuthority("https://login.contoso.example/tenant"), WithHTTPClient(lc.Client))
	e, err := c.endpointsFor(context.Background(), callConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want instance discovery then the document: %+v", len(reqs), reqs)
	}
	id := reqs[0]
	if id.Host != "login.microsoftonline.com" || id.Path != "/common/discovery/instance" ||
		id.Query.Get("api-version") != "1.1" ||
		id.Query.Get("authorization_endpoint") != "https://login.contoso.example/tenant/oauth2/v2.0/authorize" {
		t.Errorf("instance discovery request = %s %s %v", id.Host, id.Path, id.Query)
	}
	if reqs[1].Host != "login.contoso.example" || reqs[1].Path != "/tenant/v2.0/.well-known/openid-configuration" {
		t.Errorf("document request = %s %s", reqs[1].Host, reqs[1].Path)
	}
	if e.token != "https://login.contoso.example/tenant/oauth2/v2.0/token" || e.issuer != "https://login.contoso.example/tid-1/v2.0" ||
		e.environment != "cache.contoso.example" || !e.discovered || len(e.signingAlgs) != 2 {
		t.Errorf("endpoints = %+v", e)
	}
	if _, err := c.endpointsFor(context.Background(), callConfig{}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests after a second call, want 2 (cached)", n)
	}
}

func TestUnknownInstanceIsAnError(t *testing.T) {
	s := entraLike(t, false)
	lc := newLoopbackClient(t, s)
	c := mustCore(t, "cid", WithAuthority("https://login.contoso.example/tenant"), WithHTTPClient(lc.Client))
	_, err := c.endpointsFor(context.Background(), callConfig{})
	if !errors.Is(err, ErrUnknownAuthority) {
		t.Fatalf("error = %v, want ErrUnknownAuthority", err)
	}
	var fe *Error
	if !errors.As(err, &fe) || fe.Code != "invalid_instance" || fe.CorrelationID != "c-1" {
		t.Errorf("error %v does not carry the authority's error", err)
	}
	if !contains(err.Error(), "login.contoso.example", "WithValidateAuthority(false)") {
		t.Errorf("error %q does not say what to do", err)
	}
	if n := s.count("/tenant/v2.0/.well-known/openid-configuration"); n != 0 {
		t.Errorf("the document of an unknown host was read %d times", n)
	}
}

func TestNoValidationReadsTheHostsOwnDocument(t *testing.T) {
	for name, opt := range map[string]Option{
		"validation_off":         WithValidateAuthority(false),
		"instance_discovery_off": WithInstanceDiscovery(false),
	} {
		t.Run(name, func(t *testing.T) {
			s := entraLike(t, false)
			lc := newLoopbackClient(t, s)
			c := mustCore(t, "cid", WithAuthority("https://login.contoso.example/tenant"), WithHTTPClient(lc.Client), opt)
			e, err := c.endpointsFor(context.Background(), callConfig{})
			if err != nil {
				t.Fatal(err)
			}
			if s.count("/common/discovery/instance") != 0 || s.count("/tenant/v2.0/.well-known/openid-configuration") != 1 {
				t.Errorf("requests = %+v", s.requests())
			}
			if e.token != "https://login.contoso.example/tenant/oauth2/v2.0/token" || e.environment != "login.contoso.example" {
				t.Errorf("endpoints = %+v", e)
			}
		})
	}
}

func TestLoopbackAuthorityWithLocalInstanceDiscovery(t *testing.T) {
	s := newServer(t)
	s.handle("/common/discovery/instance", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"tenant_discovery_endpoint":"%s/t1/v2.0/.well-known/openid-configuration","metadata":[]}`, s.URL))
	})
	s.handle("/t1/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/t1", s.URL+"/{tenantid}/v2.0"))
	})
	c := mustCore(t, "cid", WithAuthority(s.URL+"/t1"), WithInstanceDiscoveryEndpoint(s.URL+"/"))
	e, err := c.endpointsFor(context.Background(), callConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if e.token != s.URL+"/t1/oauth2/v2.0/token" {
		t.Errorf("token endpoint = %q", e.token)
	}
	if got := s.requests()[0].Query.Get("authorization_endpoint"); got != s.URL+"/t1/oauth2/v2.0/authorize" {
		t.Errorf("authorization_endpoint asked about = %q", got)
	}
	iss, err := issuerForTenant(e.issuer, "tid-9")
	if err != nil || iss != s.URL+"/tid-9/v2.0" {
		t.Errorf("issuer for tid-9 = %q, %v", iss, err)
	}
}

func TestOIDCDiscovery(t *testing.T) {
	tests := []struct {
		name   string
		doc    func(base string) string
		status int
		err    error
	}{
		{"good", func(b string) string { return metadataDoc(b, b) }, 200, nil},
		{"issuer_on_another_host", func(b string) string { return metadataDoc(b, "https://evil.example") }, 200, ErrDiscovery},
		{"no_issuer", func(b string) string { return metadataDoc(b, "") }, 200, ErrDiscovery},
		{"token_endpoint_plain_http", func(string) string {
			return `{"issuer":"x","token_endpoint":"http://idp.example/token"}`
		}, 200, ErrMalformedResponse},
		{"not_json", func(string) string { return `<html>` }, 200, ErrMalformedResponse},
		{"not_found", func(string) string { return `{"error":"not_found"}` }, 404, ErrDiscovery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, tt.status, tt.doc(s.URL+"/realm"))
			})
			var sl sleeps
			c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm/"), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
			e, err := c.endpointsFor(context.Background(), callConfig{})
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !errors.Is(err, ErrDiscovery) {
					t.Fatalf("error = %v, want %v and ErrDiscovery", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.token != s.URL+"/realm/oauth2/v2.0/token" || e.issuer != s.URL+"/realm" || e.authority.kind != kindOIDC {
				t.Errorf("endpoints = %+v", e)
			}
			if _, err := c.endpointsFor(context.Background(), callConfig{}); err != nil {
				t.Fatal(err)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if _, err := c.endpointsFor(context.Background(), callConfig{tenant: "x"}); !errors.Is(err, ErrTenantNotSupported) {
				t.Errorf("Tenant on an OIDC authority: %v", err)
			}
		})
	}
}

func TestDiscoveryCoalescedUnderConcurrency(t *testing.T) {
	s := newServer(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
	})
	c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm"))
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := c.endpointsFor(context.Background(), callConfig{})
			if err == nil && e.token != s.URL+"/realm/oauth2/v2.0/token" {
				err = fmt.Errorf("token endpoint %q", e.token)
			}
			errs <- err
		}()
	}
	<-arrived
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := s.count("/realm/.well-known/openid-configuration"); got != 1 {
		t.Errorf("%d concurrent callers made %d requests, want 1", n, got)
	}
}

// TestFailedDiscoveryIsKeptBriefly checks that a failed discovery is
// kept for a few seconds on the application's clock (callers meanwhile get
// its error without a request), and that the next one then succeeds.
func TestFailedDiscoveryIsKeptBriefly(t *testing.T) {
	s := newServer(t)
	var mu sync.Mutex
	fail := true
	s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f {
			writeJSON(w, 404, `{"error":"nope"}`)
			return
		}
		writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
	})
	clk := newClock()
	c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm"), WithClock(clk.Now))
	if _, err := c.endpointsFor(context.Background(), callConfig{}); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("error = %v, want ErrDiscovery", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	clk.Add(discoveryRetryAfterFailure - time.Second)
	if _, err := c.endpointsFor(context.Background(), callConfig{}); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("within the backoff: %v, want the kept failure", err)
	}
	if got := len(s.requests()); got != 1 {
		t.Errorf("%d requests within the backoff, want 1", got)
	}
	clk.Add(time.Second)
	if _, err := c.endpointsFor(context.Background(), callConfig{}); err != nil {
		t.Fatalf("discovery after the backoff: %v", err)
	}
	if got := len(s.requests()); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

func TestDiscoveryExpires(t *testing.T) {
	s := newServer(t)
	s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
	})
	clk := newClock()
	c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm"), WithClock(clk.Now))
	for _, step := range []time.Duration{0, 23 * time.Hour, 2 * time.Hour, 22 * time.Hour} {
		clk.Add(step)
		if _, err := c.endpointsFor(context.Background(), callConfig{}); err != nil {
			t.Fatal(err)
		}
		c.resolver.settle()
	}
	if got := len(s.requests()); got != 2 {
		t.Errorf("%d requests over 47 hours, want 2 (read again after 24 h)", got)
	}
}

func TestDiscoveryWaiterGivesUpAlone(t *testing.T) {
	s := newServer(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
	})
	c := mustCore(t, "cid", WithOIDCAuthority(s.URL+"/realm"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.endpointsFor(ctx, callConfig{})
		done <- err
	}()
	<-arrived
	other := make(chan error)
	go func() {
		_, err := c.endpointsFor(context.Background(), callConfig{})
		other <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrDiscovery) {
		t.Errorf("cancelled caller: %v, want ErrDiscovery wrapping context.Canceled", err)
	}
	close(release)
	if err := <-other; err != nil {
		t.Errorf("the other caller: %v", err)
	}
	if got := len(s.requests()); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestMetadataOfKnownHostIsReadOnce(t *testing.T) {
	s := newServer(t, "login.microsoftonline.com")
	s.handle("/contoso.com/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc("https://login.microsoftonline.com/contoso.com", "https://login.microsoftonline.com/tid-1/v2.0"))
	})
	lc := newLoopbackClient(t, s)
	c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client))
	for range 3 {
		e, err := c.resolver.metadata(context.Background(), c.authority)
		if err != nil {
			t.Fatal(err)
		}
		if e.issuer != "https://login.microsoftonline.com/tid-1/v2.0" || e.token != "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token" {
			t.Errorf("metadata = %+v", e)
		}
	}
	if n := lc.n.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}
