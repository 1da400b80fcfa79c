package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// recorder is a server that records the requests (and bodies) that reach
// it and answers each with a token: the "elsewhere" a redirect points to.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newRecorder(t *testing.T, tls bool) *recorder {
	t.Helper()
	rec := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Method+" "+r.URL.Path+" "+string(body))
		rec.mu.Unlock()
		okToken(w, r)
	})
	if tls {
		rec.Server = httptest.NewTLSServer(h)
	} else {
		rec.Server = httptest.NewServer(h)
	}
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// redirectTo answers with status and a Location of target.
func redirectTo(status int, target func() string) step {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", target())
		w.WriteHeader(status)
	}
}

func fmtPlus(err error) string { return fmt.Sprintf("%+v %#v", err, err) }

// TestRedirectsNotFollowed: a call to the authority refuses a redirect to
// another origin or to plain http, and a redirect of any request that
// carries a body (a grant, client credentials); nothing reaches the
// redirect's target, the call is not retried, and the error says why
// without a secret.
func TestRedirectsNotFollowed(t *testing.T) {
	const secret = "client-secret-value-42"
	const userAssertion = "user-assertion-eyJ0.eyJ1.c2ln"
	const refresh = "refresh-token-value-7"
	secretAuth := func(_ context.Context, form url.Values, _ http.Header) error {
		form.Set("client_secret", secret)
		return nil
	}
	var sg signer
	type request struct {
		name string
		req  func(base string) *Request
	}
	tokenRequests := []request{
		{"client_secret", func(base string) *Request {
			return &Request{URL: base + "/t/oauth2/v2.0/token", Form: ClientCredentialsForm("cid", []string{"api://x/.default"}, ""), Authenticate: secretAuth}
		}},
		{"client_assertion", func(base string) *Request { return tokenRequest(base, &sg) }},
		{"on_behalf_of_assertion", func(base string) *Request {
			return &Request{URL: base + "/t/oauth2/v2.0/token", Form: OnBehalfOfForm("cid", []string{"api://x/.default"}, userAssertion, ""), Authenticate: sg.authenticate}
		}},
		{"refresh_token", func(base string) *Request {
			return &Request{URL: base + "/t/oauth2/v2.0/token", Form: RefreshTokenForm("cid", []string{"openid"}, refresh, ""), Authenticate: secretAuth}
		}},
		{"public_client_device_code", func(base string) *Request {
			return &Request{URL: base + "/t/oauth2/v2.0/token", Form: DeviceCodeForm("cid", []string{"openid"}, "device-code-secret", "")}
		}},
	}
	getRequest := request{"discovery_get", func(base string) *Request {
		return &Request{Method: http.MethodGet, URL: base + "/t/v2.0/.well-known/openid-configuration"}
	}}
	type target struct {
		name      string
		authTLS   bool // the authority is https
		elseTLS   bool // the redirect's target server is https
		sameHost  bool // the target is the authority itself (same origin)
		toHTTPAlt bool // the target is the authority's host over plain http on another server
	}
	targets := []target{
		{name: "http_to_another_origin"},
		{name: "https_to_another_https_origin", authTLS: true, elseTLS: true},
		{name: "https_to_plain_http", authTLS: true, toHTTPAlt: true},
		{name: "http_to_same_origin_plain_http", sameHost: true},
	}
	type tc struct {
		name   string
		req    request
		status int
		target target
	}
	var cases []tc
	for _, r := range tokenRequests {
		for _, st := range []int{307, 308, 302} {
			for _, tg := range targets {
				cases = append(cases, tc{r.name + "/" + http.StatusText(st) + "/" + tg.name, r, st, tg})
			}
		}
		// A token request is not redirected even within its origin.
		cases = append(cases, tc{r.name + "/307/https_same_origin", r, 307, target{name: "same", authTLS: true, sameHost: true}})
	}
	for _, st := range []int{301, 302, 303, 307, 308} {
		for _, tg := range targets {
			cases = append(cases, tc{getRequest.name + "/" + http.StatusText(st) + "/" + tg.name, getRequest, st, tg})
		}
	}
	for _, tt := range cases {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			elsewhere := newRecorder(t, tt.target.elseTLS)
			var auth *authority
			location := func() string {
				if tt.target.sameHost {
					return auth.URL + "/moved"
				}
				// The authority may put what it received in the URL.
				return elsewhere.URL + "/stolen/" + secret + "/" + userAssertion + "?x=1"
			}
			if tt.target.toHTTPAlt {
				elsewhere = newRecorder(t, false)
				location = func() string { return elsewhere.URL + "/downgraded" }
			}
			steps := []step{redirectTo(tt.status, location)}
			if tt.target.authTLS {
				auth = newTLSAuthority(t, steps...)
			} else {
				auth = newAuthority(t, steps...)
			}
			var sl sleeps
			var lb logBuffer
			c := testClient(&sl)
			c.Logger = lb.logger()
			hc := auth.Client()
			c.HTTPClient = hc
			resp, err := c.Do(context.Background(), tt.req.req(auth.URL))
			if err == nil {
				t.Fatalf("redirect followed: status %d; elsewhere saw %q", resp.StatusCode, elsewhere.got())
			}
			if !errors.Is(err, ErrRedirect) {
				t.Fatalf("error = %v, want ErrRedirect", err)
			}
			if got := elsewhere.got(); len(got) != 0 {
				t.Errorf("the redirect's target received %q", got)
			}
			if paths := auth.seen(); len(paths) != 1 {
				t.Errorf("authority saw %d requests, want 1 (no retry, no same-origin follow-up)", len(paths))
			}
			if w := sl.got(); len(w) != 0 {
				t.Errorf("a refused redirect was retried after waits %v", w)
			}
			msg := err.Error()
			to, _ := url.Parse(location())
			if !contains(msg, "redirect", auth.URL, to.Scheme+"://"+to.Host+",") {
				t.Errorf("error %q does not say what was refused", msg)
			}
			mustNotContain(t, "error", msg+" "+fmtPlus(err)+" "+lb.String(), secret, userAssertion, refresh, "assertion-secret", "device-code-secret", "x=1")
			if hc.CheckRedirect != nil {
				t.Errorf("the caller's http.Client was changed")
			}
		})
	}
}

// TestSameOriginHTTPSRedirectOfAGetIsFollowed: a GET (discovery, keys)
// may follow a redirect within its https origin, and the caller's own
// CheckRedirect is still consulted; the caller's client is not changed.
func TestSameOriginHTTPSRedirectOfAGetIsFollowed(t *testing.T) {
	var auth *authority
	auth = newTLSAuthority(t, redirectTo(http.StatusFound, func() string { return auth.URL + "/moved/openid-configuration" }))
	var consulted []string
	own := func(r *http.Request, via []*http.Request) error {
		consulted = append(consulted, r.URL.Path)
		return nil
	}
	hc := auth.Client()
	hc.CheckRedirect = own
	var sl sleeps
	c := testClient(&sl)
	c.HTTPClient = hc
	body, err := c.Get(context.Background(), auth.URL+"/t/v2.0/.well-known/openid-configuration", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "access_token") {
		t.Errorf("body = %s", body)
	}
	seen := auth.seen()
	if len(seen) != 2 || seen[1].Path != "/moved/openid-configuration" {
		t.Errorf("authority saw %+v", seen)
	}
	if len(consulted) != 1 || consulted[0] != "/moved/openid-configuration" {
		t.Errorf("the caller's CheckRedirect saw %q", consulted)
	}
	if reflect.ValueOf(hc.CheckRedirect).Pointer() != reflect.ValueOf(own).Pointer() {
		t.Errorf("the caller's CheckRedirect was replaced")
	}

	// The caller's CheckRedirect still has the last word.
	auth.steps = []step{redirectTo(http.StatusFound, func() string { return auth.URL + "/moved/openid-configuration" })}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("caller says no") }
	if _, err := c.Get(context.Background(), auth.URL+"/x", nil, false); err == nil || !strings.Contains(err.Error(), "caller says no") {
		t.Errorf("error = %v, want the caller's CheckRedirect error", err)
	}
}

// TestTooManySameOriginRedirects: a same-origin redirect loop stops after
// 10 redirects, as net/http's default policy does, and is not retried.
func TestTooManySameOriginRedirects(t *testing.T) {
	var auth *authority
	loop := redirectTo(http.StatusFound, func() string { return auth.URL + "/loop" })
	auth = newTLSAuthority(t)
	auth.success = loop
	var sl sleeps
	c := testClient(&sl)
	c.HTTPClient = auth.Client()
	_, err := c.Get(context.Background(), auth.URL+"/loop", nil, false)
	if err == nil || !strings.Contains(err.Error(), "10 redirects") {
		t.Fatalf("error = %v, want a redirect limit", err)
	}
	if n := len(auth.seen()); n != maxRedirects {
		t.Errorf("authority saw %d requests, want %d (one call, not retried)", n, maxRedirects)
	}
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
