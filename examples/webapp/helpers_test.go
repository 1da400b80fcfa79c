package main

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// The test authority's registrations.
const (
	testTenant   = "contoso.com"
	testClientID = "0e0e0e0e-1111-4222-8333-444444444444"
	testSecret   = "test-client-SECRET-value"
	testUser     = "alice@contoso.com"
	testPassword = "alice-PASSWORD-value"
	testName     = "Alice Smith"
	testAPI      = "api://orders"
)

// syncBuffer is a bytes.Buffer for concurrent writers (the app's log).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is the app served on loopback against an authtest server.
type env struct {
	t    *testing.T
	srv  *authtest.Server
	app  *webApp
	url  string // http://localhost:port: another site than the authority's 127.0.0.1
	logs *syncBuffer
	now  time.Time // the app's clock, moved by advance
	mu   sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// advance moves the app's and the authority's clocks.
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
	e.srv.Advance(d)
}

// newEnv starts authtest with the app's registration, alice and an API,
// and the app against it, configured as its flags would configure it
// against Entra.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}}
	e.now = time.Now().Truncate(time.Second)
	srv := authtest.NewServer(t, authtest.WithClock(func() time.Time { return e.clock() }))
	e.srv = srv
	srv.AddClient(authtest.Client{ID: testClientID, Secret: testSecret, RedirectURIs: []string{"http://localhost" + callbackPath}})
	srv.AddUser(authtest.User{Username: testUser, Password: testPassword, DisplayName: testName, TenantID: srv.TenantID(testTenant)})
	srv.AddAPI(authtest.API{Audience: testAPI, Scopes: []string{"Orders.Read"}})

	ts := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	e.url = "http://localhost:" + port
	a, err := newApp(Config{
		PublicURL: e.url, ClientID: testClientID, Credential: credential.Secret(testSecret),
		Authority: srv.Authority(testTenant), Graph: srv.URL, GraphScopes: []string{"User.Read"},
		APIURL: srv.URL + "/resource/orders", APIScopes: []string{testAPI + "/Orders.Read"},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.app = a
	ts.Config.Handler = a.handler
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("app log:\n%s", e.logs.String())
		}
	})
	return e
}

// count returns how many requests reached endpoint of the authority.
func (e *env) count(endpoint string) int { return e.srv.CountRequests(endpoint) }

// lastAuthorize returns the query of the last authorization request.
func (e *env) lastAuthorize() url.Values {
	e.t.Helper()
	rs := e.srv.RequestsTo(authtest.EndpointAuthorize)
	if len(rs) == 0 {
		e.t.Fatal("no authorization request")
	}
	return rs[len(rs)-1].Query
}

// browser is a user's browser: a cookie jar, redirects followed, and
// every page kept so that a test can check that no secret was shown.
type browser struct {
	t       *testing.T
	client  *http.Client
	jar     *cookiejar.Jar
	pages   []string
	visited []*url.URL // every redirect followed
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, jar: jar}
	b.client = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: b.follow}
	return b
}

// follow is the browser's redirect policy: it follows up to 10, and
// records them.
func (b *browser) follow(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	b.visited = append(b.visited, req.URL)
	return nil
}

// page is a page the browser shows.
type page struct {
	status int
	url    *url.URL // after redirects
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.pages = append(b.pages, string(body))
	return page{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
}

// text is p's body with HTML character references decoded, as a user
// reads it.
func (p page) text() string { return html.UnescapeString(p.body) }

func (b *browser) get(u string) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form to u; header adds request headers.
func (b *browser) post(u string, form url.Values, header http.Header) page {
	b.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	return b.do(req)
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	csrfInput   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// isSignInForm reports whether p is authtest's sign-in form.
func (p page) isSignInForm() bool { return strings.Contains(p.body, `name="authtest_username"`) }

// signIn fills authtest's sign-in form on p and submits it with action
// ("signin" or "cancel"), as a user would.
func (b *browser) signIn(p page, username, password, action string) page {
	b.t.Helper()
	if !p.isSignInForm() {
		b.t.Fatalf("%s is not the sign-in form (status %d):\n%s", p.url, p.status, p.body)
	}
	m := formAction.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no form on the sign-in page:\n%s", p.body)
	}
	action_, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	form := url.Values{}
	for _, in := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	form.Set("authtest_username", username)
	form.Set("authtest_password", password)
	form.Set("authtest_action", action)
	return b.post(action_.String(), form, nil)
}

// csrf returns the CSRF token of p's forms.
func (b *browser) csrf(p page) string {
	b.t.Helper()
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", p.url, p.body)
	}
	return html.UnescapeString(m[1])
}

// sessionCookie returns the session cookie the browser holds for the app.
func (b *browser) sessionCookie(appURL string) string {
	u, _ := url.Parse(appURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "webapp_session" {
			return c.Value
		}
	}
	return ""
}

// signedInAt signs the browser in to the app at appURL through the
// sign-in form and returns the page it comes back to.
func (b *browser) signedInAt(appURL, next, username, password string) page {
	b.t.Helper()
	p := b.get(appURL + "/login?next=" + url.QueryEscape(next))
	p = b.signIn(p, username, password, "signin")
	if p.status != http.StatusOK {
		b.t.Fatalf("after signing in: %s: status %d:\n%s", p.url, p.status, p.body)
	}
	return p
}

// expect fails the test unless p is a page of the app at path with
// status and every text of want.
func expect(t *testing.T, p page, status int, path string, want ...string) {
	t.Helper()
	if p.status != status || p.url.Path != path {
		t.Fatalf("got %s with status %d, want %s with %d:\n%s", p.url, p.status, path, status, p.body)
	}
	for _, w := range want {
		if !strings.Contains(p.text(), w) {
			t.Fatalf("%s lacks %q:\n%s", p.url, w, p.body)
		}
	}
}

func credentialSecret() credential.Credential { return credential.Secret(testSecret) }

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func newRequest(method, target string) *http.Request { return httptest.NewRequest(method, target, nil) }
