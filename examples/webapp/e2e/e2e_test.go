// Package e2e drives examples/webapp in a real headless Chromium through
// chromedp: a user signs in through authtest's sign-in form, sees the
// profile, survives a revocation, passes a step-up and signs out.
//
// It is a module of its own so that chromedp stays out of bearer's
// go.mod. It needs Debian's chromium package (or $CHROME_PATH); without
// one it skips, except under CI=true, where a missing browser fails.
// A failed test saves a screenshot and the page's HTML to the directory
// it names in its log ($WEBAPP_E2E_ARTIFACTS, else a new temporary
// directory).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/bearerhttp/bearer/authtest"
)

// The test authority's registrations.
const (
	tenant   = "contoso.com"
	clientID = "0e0e0e0e-2222-4222-8333-555555555555"
	secret   = "e2e-client-SECRET-value"
	user     = "alice@contoso.com"
	password = "alice-PASSWORD-value"
	name     = "Alice Smith"
	api      = "api://orders"
	// stepUpACR is what the app's demo asks for too; any value works.
	stepUpACR = "urn:webapp:acr:mfa"
)

// stepTimeout bounds each step's wait for the page it expects.
const stepTimeout = 30 * time.Second

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// webappBinary builds examples/webapp (in the root module) once.
func webappBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", "..", ".."))
		if err != nil {
			binErr = err
			return
		}
		if binDir, err = os.MkdirTemp("", "webapp-e2e-bin-"); err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(binDir, "webapp")
		cmd := exec.Command("go", "build", "-o", binPath, "./examples/webapp")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./examples/webapp: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// chromium returns the browser to drive: $CHROME_PATH, else chromium (or
// a Chrome) on PATH. Without one the test skips, or fails under CI=true:
// CI must not pass by not testing.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH: CI must install it (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium, or set CHROME_PATH)")
	return ""
}

// syncBuffer collects a process's output.
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

// readyWriter is the app's standard output: it closes ready once the
// app printed the URL to open.
type readyWriter struct {
	syncBuffer
	ready chan struct{}
	once  sync.Once
}

var openLine = regexp.MustCompile(`(?m)^webapp: open (http://\S+)/$`)

func (w *readyWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if openLine.MatchString(w.String()) {
		w.once.Do(func() { close(w.ready) })
	}
	return n, err
}

// startApp runs the web app with args (and the environment env, on top
// of one without AZURE_ settings) and returns its URL and its output.
func startApp(t *testing.T, args []string, env ...string) (string, *readyWriter) {
	t.Helper()
	bin := webappBinary(t)
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AZURE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out := &readyWriter{ready: make(chan struct{})}
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil && !t.Failed() {
				t.Errorf("the app exited with %v:\n%s", err, stderr)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("the app did not stop within 10 s of an interrupt")
		}
		if t.Failed() {
			t.Logf("the app's output:\n%s\nits log:\n%s", out, stderr)
		}
	})
	select {
	case <-out.ready:
	case err := <-exited:
		exited <- err
		t.Fatalf("the app exited (%v) before serving:\n%s\n%s", err, out, stderr)
	case <-time.After(stepTimeout):
		t.Fatalf("the app printed no URL within %s:\n%s\n%s", stepTimeout, out, stderr)
	}
	return openLine.FindStringSubmatch(out.String())[1], out
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// its tab's context. A failed test saves a screenshot and the page's
// HTML.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	profile := t.TempDir() // removed after the browser exits (cleanups run last first)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(profile),
		// The machine's network is closed: Chromium must not try to
		// reach anything but the loopback servers.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1200, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc) // kills the browser and waits for it
	logs := &syncBuffer{}
	logf := func(format string, args ...any) { fmt.Fprintf(logs, format+"\n", args...) }
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	t.Cleanup(cancel)
	// The first Run starts the browser, on the tab's own context (a Run
	// on a shorter-lived context would close the browser with it); a
	// browser that does not start within a minute is given up.
	watchdog := time.AfterFunc(time.Minute, cancel)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		t.Fatalf("%s did not start within a minute: %v\n%s", path, err, logs)
	}
	if err != nil {
		t.Fatalf("starting %s: %v\n%s", path, err, logs)
	}
	if v, err := chromedp.CallBrowser(ctx, browser.GetVersion, cdp.Empty{}); err == nil {
		t.Logf("browser: %s", v.Product)
	}
	t.Cleanup(func() {
		if t.Failed() {
			saveEvidence(t, ctx)
			if s := logs.String(); s != "" {
				t.Logf("chromedp:\n%s", s)
			}
		}
	})
	return ctx
}

// saveEvidence saves a screenshot and the HTML of the page the browser
// shows.
func saveEvidence(t *testing.T, ctx context.Context) {
	dir := os.Getenv("WEBAPP_E2E_ARTIFACTS")
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "webapp-e2e-")
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Logf("no directory for the screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("taking the screenshot: %v", err)
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	base := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if len(shot) > 0 {
		if err := os.WriteFile(base+".png", shot, 0o644); err == nil {
			t.Logf("screenshot of %s saved to %s.png", loc, base)
		}
	}
	if html != "" {
		if err := os.WriteFile(base+".html", []byte(html), 0o644); err == nil {
			t.Logf("its HTML saved to %s.html", base)
		}
	}
}

// step runs actions, waiting at most stepTimeout; what names the step in
// the failure.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		locCtx, cancelLoc := context.WithTimeout(ctx, 5*time.Second)
		loc, _ := chromedp.Run(locCtx, chromedp.Location())
		cancelLoc()
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// run runs action, waiting at most stepTimeout, and returns its value.
func run[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// cookies returns the browser's cookies for u.
func cookies(t *testing.T, ctx context.Context, u string) []*network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("reading the cookies: %v", err)
	}
	return res.Cookies
}

// text returns the text of the element sel selects, once it is visible.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	step(t, ctx, "waiting for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(run(t, ctx, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// signInThroughForm fills authtest's sign-in form, which the browser
// shows, and submits it.
func signInThroughForm(t *testing.T, ctx context.Context, username, pw string) {
	t.Helper()
	step(t, ctx, "signing in through the authority's form",
		chromedp.WaitVisible(chromedp.CSS(`input[name="authtest_username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="authtest_username"]`), username),
		chromedp.SendKeys(chromedp.CSS(`input[name="authtest_password"]`), pw),
		chromedp.Click(chromedp.CSS(`button[value="signin"]`)),
	)
}

// newAuthority starts authtest with the app's registration, alice and an
// API.
func newAuthority(t *testing.T) *authtest.Server {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: clientID, Secret: secret, RedirectURIs: []string{"http://localhost/auth/callback"}})
	srv.AddUser(authtest.User{Username: user, Password: password, DisplayName: name, TenantID: srv.TenantID(tenant)})
	srv.AddAPI(authtest.API{Audience: api, Scopes: []string{"Orders.Read"}})
	return srv
}

// TestBrowserJourney: the web app, configured by its flags as against
// Entra (the authority, the client, its secret from the environment, Graph
// and the API), at http://localhost (another site than the authority's
// 127.0.0.1). The user signs in through the authority's form, sees the
// profile, keeps working through a CAE revocation and an authentication
// context the refresh token can get, passes a step-up by signing in
// again, and signs out.
func TestBrowserJourney(t *testing.T) {
	ctx := newBrowser(t)
	srv := newAuthority(t)
	appURL, _ := startApp(t, []string{
		"-authority", srv.Authority(tenant), "-client-id", clientID, "-graph", srv.URL,
		"-api-url", srv.URL + "/resource/orders", "-api-scope", api + "/Orders.Read",
	}, "AZURE_CLIENT_SECRET="+secret)

	// Sign in from the home page.
	step(t, ctx, "opening the app", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible(chromedp.CSS("#signin")))
	step(t, ctx, "clicking Sign in", chromedp.Click(chromedp.CSS("#signin")))
	step(t, ctx, "reaching the authority", chromedp.WaitVisible(chromedp.CSS(`input[name="authtest_username"]`)))
	loc := run(t, ctx, "reading the location", chromedp.Location())
	if !strings.HasPrefix(loc, srv.URL+"/") {
		t.Fatalf("the sign-in page is %s, not the authority's", loc)
	}
	signInThroughForm(t, ctx, user, password)
	if got := text(t, ctx, "#user"); got != name {
		t.Fatalf("signed in as %q, want %q", got, name)
	}

	// The session cookie: HttpOnly (no script sees it), SameSite=Lax.
	cs := cookies(t, ctx, appURL+"/")
	docCookie := run(t, ctx, "reading document.cookie", chromedp.Evaluate[string](`document.cookie`))
	if len(cs) != 1 || cs[0].Name != "webapp_session" || !cs[0].HTTPOnly || cs[0].SameSite != network.CookieSameSiteLax || !cs[0].Session {
		t.Errorf("cookies %+v, want one HttpOnly, SameSite=Lax session cookie", cs)
	}
	if docCookie != "" {
		t.Errorf("a script reads the cookies %q", docCookie)
	}

	// The profile, from Graph.
	step(t, ctx, "opening the profile", chromedp.Navigate(appURL+"/profile"))
	if got := text(t, ctx, "#profile-name"); got != name {
		t.Fatalf("the profile shows %q, want %q", got, name)
	}
	signIns := srv.CountRequests(authtest.EndpointAuthorize)

	// A CAE revocation: the profile still shows, without a sign-in; the
	// page shows the challenge the app recovered from.
	srv.Revoke(user)
	step(t, ctx, "opening the profile after the revocation", chromedp.Navigate(appURL+"/profile"))
	if got := text(t, ctx, "#profile-name"); got != name {
		t.Fatalf("after the revocation the profile shows %q", got)
	}
	if wire := text(t, ctx, "#wire"); !strings.Contains(wire, "a claims challenge (insufficient_claims)") {
		t.Errorf("the profile's calls show no claims challenge:\n%s", wire)
	}
	if n := srv.CountRequests(authtest.EndpointAuthorize); n != signIns {
		t.Errorf("the revocation sent the user to sign in")
	}

	// An authentication context the refresh token can get: silent too.
	srv.RequireAuthContext("/resource/", "c1")
	step(t, ctx, "calling the API with an authentication context", chromedp.Navigate(appURL+"/api"))
	if got := text(t, ctx, "#api-result"); !strings.Contains(got, `"c1"`) || !strings.Contains(got, "Orders.Read") {
		t.Errorf("the API's answer lacks the c1 context:\n%s", got)
	}
	if n := srv.CountRequests(authtest.EndpointAuthorize); n != signIns {
		t.Errorf("the authentication context sent the user to sign in")
	}

	// A step-up: the user signs in again (the login hint names the user:
	// authtest, like Entra with a session, asks for no password), and the
	// API answers.
	srv.RequireACR("/resource/", stepUpACR, 0)
	step(t, ctx, "calling the API after the step-up demand", chromedp.Navigate(appURL+"/api"))
	if got := text(t, ctx, "#api-result"); !strings.Contains(got, "Orders.Read") {
		t.Errorf("the API's answer after the step-up:\n%s", got)
	}
	if n := srv.CountRequests(authtest.EndpointAuthorize); n != signIns+1 {
		t.Fatalf("%d sign-ins for the step-up, want 1", n-signIns)
	}
	rs := srv.RequestsTo(authtest.EndpointAuthorize)
	if q := rs[len(rs)-1].Query; q.Get("acr_values") != stepUpACR || q.Get("login_hint") != user {
		t.Errorf("the step-up sign-in asked for acr_values %q, login_hint %q", q.Get("acr_values"), q.Get("login_hint"))
	}

	// Sign out: through the authority's sign-out page, back home, signed out.
	step(t, ctx, "signing out", chromedp.Navigate(appURL+"/"), chromedp.WaitVisible(chromedp.CSS("#signout")), chromedp.Click(chromedp.CSS("#signout")))
	step(t, ctx, "coming back signed out", chromedp.WaitVisible(chromedp.CSS("#signed-out")))
	loc = run(t, ctx, "reading the location", chromedp.Location())
	if loc != appURL+"/" {
		t.Errorf("after signing out the browser is at %s", loc)
	}
	if n := srv.CountRequests(authtest.EndpointLogout); n != 1 {
		t.Errorf("%d sign-outs at the authority, want 1", n)
	}
	if cs := cookies(t, ctx, appURL+"/"); len(cs) != 0 {
		t.Errorf("cookies after signing out: %+v", cs)
	}

	// The profile asks for a sign-in again.
	step(t, ctx, "opening the profile signed out", chromedp.Navigate(appURL+"/profile"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="authtest_username"]`)))
}

var passwordLine = regexp.MustCompile(`(?m)^webapp: sign in as (\S+) with the password (\S+)$`)

// TestBrowserOneCommand: `go run ./examples/webapp` with no settings
// (only a free port): the printed user signs in at the printed URL, and
// the home page's buttons make the in-process authority revoke the
// session and demand a step-up.
func TestBrowserOneCommand(t *testing.T) {
	ctx := newBrowser(t)
	appURL, out := startApp(t, nil)
	m := passwordLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the app printed no user to sign in as:\n%s", out)
	}

	step(t, ctx, "opening the profile", chromedp.Navigate(appURL+"/profile"))
	signInThroughForm(t, ctx, m[1], m[2])
	if got := text(t, ctx, "#profile-name"); got != "Adele Vance" {
		t.Fatalf("the profile shows %q", got)
	}

	step(t, ctx, "revoking the session", chromedp.Navigate(appURL+"/"), chromedp.Click(chromedp.CSS("#demo-revoke")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	step(t, ctx, "opening the profile after the revocation", chromedp.Navigate(appURL+"/profile"))
	if wire := text(t, ctx, "#wire"); !strings.Contains(wire, "a claims challenge (insufficient_claims)") {
		t.Errorf("the profile's calls show no claims challenge:\n%s", wire)
	}

	step(t, ctx, "demanding a step-up", chromedp.Navigate(appURL+"/"), chromedp.Click(chromedp.CSS("#demo-step-up")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	step(t, ctx, "calling the API", chromedp.Navigate(appURL+"/api"))
	if got := text(t, ctx, "#api-result"); !strings.Contains(got, "Orders.Read") {
		t.Errorf("the API's answer:\n%s", got)
	}

	step(t, ctx, "signing out", chromedp.Navigate(appURL+"/"), chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signed-out")))
}
