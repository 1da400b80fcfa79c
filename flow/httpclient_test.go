package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// These tests show how MSAL Python's proxies, verify and timeout map onto
// the *http.Client given to WithHTTPClient, as the README says.

// TestHTTPClientProxy: MSAL Python's proxies= is the Transport's Proxy.
// The token request goes through a real forward proxy on loopback.
func TestHTTPClientProxy(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})

	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.Method+" "+r.URL.String())
		mu.Unlock()
		out := r.Clone(r.Context())
		out.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)

	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
		WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}))
	if _, err := app.AcquireTokenForClient(context.Background(), []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantToken := "POST " + srv.URL + "/contoso.com/oauth2/v2.0/token"
	found := false
	for _, p := range proxied {
		found = found || p == wantToken
	}
	if !found {
		t.Errorf("the proxy saw %q, want %q among them", proxied, wantToken)
	}
	if srv.TokenRequests() != 1 {
		t.Errorf("authority saw %d token requests, want 1", srv.TokenRequests())
	}
}

// TestHTTPClientVerify: MSAL Python's verify= is the Transport's
// TLSClientConfig. A client that does not trust the authority's
// certificate fails with a certificate error, which is not retried.
func TestHTTPClientVerify(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	untrusting := srv.Transport().Clone()
	untrusting.TLSClientConfig = untrusting.TLSClientConfig.Clone()
	untrusting.TLSClientConfig.RootCAs = x509.NewCertPool() // trusts nothing

	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
		WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(&http.Client{Transport: untrusting}))
	_, err := app.AcquireTokenForClient(context.Background(), []string{"https://graph.microsoft.com/.default"})
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Fatalf("err = %v, want an x509.UnknownAuthorityError", err)
	}
	if n := srv.CountRequests(authtest.EndpointToken); n != 0 {
		t.Errorf("%d token requests reached the authority, want 0", n)
	}

	// Trusting the authority's CA (verify="ca.pem" in MSAL Python) works.
	trusting := srv.Transport().Clone()
	trusting.TLSClientConfig = trusting.TLSClientConfig.Clone()
	trusting.TLSClientConfig.RootCAs = srv.CAPool()
	app = mustConfidential(t, daemonID, credential.Secret(daemonSecret),
		WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(&http.Client{Transport: trusting}))
	if _, err := app.AcquireTokenForClient(context.Background(), []string{"https://graph.microsoft.com/.default"}); err != nil {
		t.Fatal(err)
	}
}

// deadlineRecorder records the deadline of each request's context.
type deadlineRecorder struct {
	base      http.RoundTripper
	mu        sync.Mutex
	deadlines []time.Time
}

func (d *deadlineRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	dl, _ := r.Context().Deadline()
	d.mu.Lock()
	d.deadlines = append(d.deadlines, dl)
	d.mu.Unlock()
	return d.base.RoundTrip(r)
}

// TestHTTPClientTimeout: MSAL Python's timeout= is the client's Timeout;
// each attempt gets it as its deadline (asserted, not waited for). Without
// one, and with no deadline on the context, a call gets 30 s.
func TestHTTPClientTimeout(t *testing.T) {
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"client_timeout", 5 * time.Second, 5 * time.Second},
		{"default_30s", 0, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(t)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			rec := &deadlineRecorder{base: srv.Transport()}
			app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
				WithAuthority(srv.Authority("contoso.com")),
				WithHTTPClient(&http.Client{Transport: rec, Timeout: tt.timeout}))
			before := time.Now()
			if _, err := app.AcquireTokenForClient(context.Background(), []string{"https://graph.microsoft.com/.default"}); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.deadlines) == 0 {
				t.Fatal("no request recorded")
			}
			for i, dl := range rec.deadlines {
				if dl.Before(before.Add(tt.want)) || dl.After(after.Add(tt.want)) {
					t.Errorf("request %d: deadline %v after the call started, want %v", i, dl.Sub(before), tt.want)
				}
			}
		})
	}
}
