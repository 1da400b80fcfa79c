package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// Fixtures of the in-process tests.
const (
	cliID     = "11111111-aaaa-4bbb-8ccc-00000000c11e" // a public client, any loopback redirect URI
	appID     = "22222222-aaaa-4bbb-8ccc-0000000000a9" // a confidential client
	appSecret = "app-SECRET-value-0123456789"
	contoso   = "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
	alice     = "alice@contoso.com"
	alicePW   = "alice-PASSWORD-4567"
	bob       = "bob@contoso.com"
	bobPW     = "bob-PASSWORD-8910"
	graph     = "https://graph.microsoft.com/.default"
)

// harness runs bearer in-process (run's code path, with the test's
// streams, environment and browser) against an authtest server.
type harness struct {
	t   *testing.T
	srv *authtest.Server
	dir string // BEARER_CONFIG_DIR
	env map[string]string
	// user and password sign in when the browser is opened; empty user
	// presses Cancel.
	user, password string
	pages          []string
	mu             sync.Mutex
}

func newHarness(t *testing.T, opts ...authtest.Option) *harness {
	t.Helper()
	srv := authtest.NewServer(t, append([]authtest.Option{authtest.WithDeviceCodeInterval(time.Second)}, opts...)...)
	srv.AddClient(authtest.Client{ID: cliID, Public: true})
	srv.AddClient(authtest.Client{ID: appID, Secret: appSecret})
	srv.AddUser(authtest.User{Username: alice, Password: alicePW, TenantID: contoso})
	srv.AddUser(authtest.User{Username: bob, Password: bobPW, TenantID: contoso})
	h := &harness{t: t, srv: srv, dir: filepath.Join(t.TempDir(), "config"), user: alice, password: alicePW}
	h.env = map[string]string{"BEARER_CONFIG_DIR": h.dir}
	return h
}

// userFlags point bearer at the harness's authority and public client.
func (h *harness) userFlags() []string {
	return []string{"--authority", h.srv.URL, "--tenant", "contoso.com", "--client-id", cliID}
}

// result is what one run of bearer did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs bearer with args (and stdin) in-process.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	return h.runWith(&bytes.Buffer{}, stdin, args...)
}

func (h *harness) runWith(stderr io.Writer, stdin string, args ...string) result {
	h.t.Helper()
	var out bytes.Buffer
	var errBuf bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: io.MultiWriter(&errBuf, stderr),
		getenv: func(k string) string { return h.env[k] },
		browser: func(ctx context.Context, u string) error {
			status, page, err := signIn(ctx, u, h.user, h.password)
			h.mu.Lock()
			h.pages = append(h.pages, page)
			h.mu.Unlock()
			if err == nil && status != 200 {
				h.t.Errorf("the loopback server answered %d", status)
			}
			return err
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := c.main(ctx, args)
	return result{code, out.String(), errBuf.String()}
}

// must fails the test unless r exited with want.
func (r result) must(t *testing.T, want int) result {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, want, r.stdout, r.stderr)
	}
	return r
}

func (h *harness) login(args ...string) result {
	h.t.Helper()
	return h.run("", append(append([]string{"login", "--interactive"}, h.userFlags()...), args...)...).must(h.t, 0)
}

func TestHelp(t *testing.T) {
	h := newHarness(t)
	r := h.run("", "--help").must(t, 0)
	for _, want := range []string{"Usage:\n  bearer <command> [flags] [arguments]", "login ", "token ", "get ", "post ", "put ", "patch ",
		"delete ", "accounts ", "logout ", "--authority URL", "--tenant ID", "--client-id ID", "--scope scope", "-v, --verbose",
		"AZURE_CLIENT_SECRET", "BEARER_CONFIG_DIR", "Exit status:", "3  not signed in", "Examples:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if len([]rune(line)) > 100 {
			t.Errorf("help line over 100 columns: %q", line)
		}
	}
	for _, args := range [][]string{{"help", "get"}, {"get", "--help"}, {"get", "-h"}} {
		r := h.run("", args...).must(t, 0)
		if !strings.Contains(r.stdout, "Usage: bearer get [flags] URL") || !strings.Contains(r.stdout, "-d, --data text") || !strings.Contains(r.stdout, "-H, --header Name: value") {
			t.Errorf("%v:\n%s", args, r.stdout)
		}
	}
	if r := h.run("", "login", "--help").must(t, 0); !strings.Contains(r.stdout, "--interactive") || !strings.Contains(r.stdout, "--timeout duration") {
		t.Errorf("login --help:\n%s", r.stdout)
	}
	if r := h.run("", "--version").must(t, 0); !strings.HasPrefix(r.stdout, "bearer ") {
		t.Errorf("--version: %q", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"help", "frob"}, `unknown command "frob"`},
		{[]string{"token"}, "token needs --scope"},
		{[]string{"token", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"get"}, "usage: bearer get [flags] URL"},
		{[]string{"get", "https://a.example/", "https://b.example/"}, "usage: bearer get [flags] URL"},
		{[]string{"accounts", "extra"}, "accounts takes no arguments"},
		{[]string{"get", "http://api.example.com/x"}, "refusing to send a token over plain http to api.example.com"},
		{[]string{"get", "ftp://api.example.com/x"}, "is not an http(s) URL"},
		{[]string{"get", "/relative"}, "is not an http(s) URL of a host"},
		{[]string{"get", "https://api.example.com/", "-H", "Authorization: Bearer x"}, "--header Authorization would replace"},
		{[]string{"get", "https://api.example.com/", "-H", "no colon"}, "a header is Name: value"},
		{[]string{"token", "--scope", "x", "--client-secret-file", "a", "--certificate", "b"}, "not both"},
		{[]string{"token", "--scope", "x", "--client-secret-file", "a", "--tenant", "t"}, "give --client-id or set AZURE_CLIENT_ID"},
		{[]string{"token", "--scope", "x", "--client-secret-file", "a", "--client-id", "c"}, "give --tenant or set AZURE_TENANT_ID"},
		{[]string{"token", "--scope", "x", "--authority", "https://login.example/t", "--tenant", "u"}, "names a tenant already"},
		{[]string{"token", "--scope", "x", "--oidc"}, "--oidc needs --authority"},
		{[]string{"token", "--scope", "x", "--authority", "ftp://login.example"}, "is not an https URL"},
		{[]string{"login", "--timeout", "0s"}, "--timeout must be positive"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := h.run("", tc.args...).must(t, exitUsage)
			if !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "Run 'bearer --help' for usage.") {
				t.Errorf("stderr %q, want %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	if n := len(h.srv.Requests()); n != 0 {
		t.Errorf("%d requests for bad command lines", n)
	}
}

func TestInteractiveLoginTokenCallLogout(t *testing.T) {
	h := newHarness(t)
	r := h.login()
	if !strings.Contains(r.stderr, "Signed in as alice@contoso.com.") {
		t.Errorf("login said %q", r.stderr)
	}
	if len(h.pages) != 1 || !strings.Contains(h.pages[0], "You have signed in") {
		t.Errorf("pages %q", h.pages)
	}
	// The redirect URI was http://localhost on a free port.
	az := h.srv.RequestsTo(authtest.EndpointAuthorize)
	if len(az) == 0 || !regexp.MustCompile(`^http://localhost:\d+$`).MatchString(az[0].Query.Get("redirect_uri")) {
		t.Fatalf("authorization requests %v", az)
	}
	for _, name := range []string{cacheName, cacheName + ".lock", profileName} {
		fi, err := os.Stat(filepath.Join(h.dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, fi.Mode(), err)
		}
	}
	// Later commands need no flags: the last sign-in's authority and client.
	tok := strings.TrimSpace(h.run("", "token", "--scope", graph).must(t, 0).stdout)
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q", tok)
	}
	before := h.srv.CountRequests(authtest.EndpointToken)
	if again := strings.TrimSpace(h.run("", "token", "--scope", graph).must(t, 0).stdout); again != tok {
		t.Errorf("second token differs")
	}
	if n := h.srv.CountRequests(authtest.EndpointToken) - before; n != 0 {
		t.Errorf("the second token made %d token requests, want 0 (from the file cache)", n)
	}
	var js tokenJSON
	if err := json.Unmarshal([]byte(h.run("", "token", "--scope", graph, "--json").must(t, 0).stdout), &js); err != nil ||
		js.AccessToken != tok || js.TokenType != "Bearer" || js.Account != alice || js.Tenant != contoso || js.ExpiresOnTS == 0 || len(js.Scopes) == 0 {
		t.Errorf("token --json: %+v %v", js, err)
	}
	me := h.run("", "get", h.srv.URL+"/v1.0/me", "--scope", graph).must(t, 0)
	var m map[string]any
	if err := json.Unmarshal([]byte(me.stdout), &m); err != nil || m["userPrincipalName"] != alice {
		t.Errorf("get /me: %q %v", me.stdout, err)
	}
	if strings.Contains(me.stdout, "\n  ") {
		t.Errorf("pretty-printed to a pipe: %q", me.stdout)
	}
	acc := h.run("", "accounts").must(t, 0)
	if !regexp.MustCompile(`(?m)^\* alice@contoso\.com +tenant contoso\.com +127\.0\.0\.1$`).MatchString(acc.stdout) {
		t.Errorf("accounts: %q", acc.stdout)
	}
	out := h.run("", "logout").must(t, 0)
	if !strings.Contains(out.stderr, "Signed out alice@contoso.com.") {
		t.Errorf("logout said %q", out.stderr)
	}
	assertNoTokens(t, filepath.Join(h.dir, cacheName))
	r = h.run("", "token", "--scope", graph).must(t, exitSignIn)
	if !strings.Contains(r.stderr, "not signed in: run 'bearer login'") {
		t.Errorf("token after logout: %q", r.stderr)
	}
}

// assertNoTokens checks that the MSAL cache file holds no token and no
// account.
func assertNoTokens(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("cache file: %v\n%s", err, b)
	}
	for _, section := range []string{"AccessToken", "RefreshToken", "IdToken", "Account"} {
		if len(doc[section]) != 0 {
			t.Errorf("the cache still holds %d %s entries", len(doc[section]), section)
		}
	}
}

func TestDeviceCodeLogin(t *testing.T) {
	h := newHarness(t)
	// The "user" reads the code bearer prints and approves it.
	w, codes := approver(h, alice)
	r := h.runWith(w, "", append([]string{"login"}, h.userFlags()...)...).must(t, 0)
	<-codes
	want := regexp.MustCompile(`(?s)^To sign in, use a web browser to open the page http://127\.0\.0\.1:\d+/devicelogin and enter the code [A-Z0-9]+ to authenticate\.\n` +
		`Waiting for you to sign in \(15m0s left\)…\n(Still waiting for you to sign in \(\d+m\d+s left\)…\n)*Signed in as alice@contoso\.com\.\n$`)
	if !want.MatchString(r.stderr) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if tok := h.run("", "token", "--scope", graph).must(t, 0).stdout; tok == "" {
		t.Errorf("no token after a device code login")
	}
}

// watcher is a writer that calls f with everything written so far.
type watcher struct {
	mu sync.Mutex
	b  bytes.Buffer
	f  func(string)
}

func watch(f func(string)) *watcher { return &watcher{f: f} }

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b.Write(p)
	s := w.b.String()
	w.mu.Unlock()
	w.f(s)
	return len(p), nil
}

// approver is a watcher that approves (or declines) the device code
// bearer prints, as the user would, and reports the user code.
func approver(h *harness, username string) (*watcher, <-chan string) {
	codes := make(chan string, 1)
	var once sync.Once
	return watch(func(s string) {
		if m := regexp.MustCompile(`enter the code ([A-Z0-9]+)`).FindStringSubmatch(s); m != nil {
			once.Do(func() {
				if username == "" {
					_ = h.srv.DeclineDeviceCode(m[1])
				} else if err := h.srv.ApproveDeviceCode(m[1], username); err != nil {
					h.t.Error(err)
				}
				codes <- m[1]
			})
		}
	}), codes
}

func TestDeviceCodeLoginVerboseLogsNoCode(t *testing.T) {
	h := newHarness(t)
	w, codes := approver(h, alice)
	r := h.runWith(w, "", append([]string{"login", "--verbose"}, h.userFlags()...)...).must(t, 0)
	code := <-codes
	var records int
	for _, line := range strings.Split(r.stderr, "\n") {
		if !strings.HasPrefix(line, "time=") {
			continue
		}
		records++
		if strings.Contains(line, code) {
			t.Errorf("a log record shows the user code: %s", line)
		}
	}
	if records == 0 || !strings.Contains(r.stderr, "flow: device code: waiting for the user") || !strings.Contains(r.stderr, "enter the code "+code) {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	// The device code itself is in no line at all.
	for _, req := range h.srv.RequestsTo(authtest.EndpointToken) {
		if dc := req.Form.Get("device_code"); dc == "" || strings.Contains(r.stderr, dc) {
			t.Errorf("the device code (%d bytes) is shown", len(dc))
		}
	}
}

func TestDeviceCodeLoginDeclined(t *testing.T) {
	h := newHarness(t)
	w, _ := approver(h, "")
	r := h.runWith(w, "", append([]string{"login"}, h.userFlags()...)...).must(t, exitError)
	if !strings.Contains(r.stderr, "bearer: the sign-in was declined") {
		t.Errorf("stderr %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(h.dir, profileName)); err == nil {
		t.Errorf("a declined sign-in was remembered")
	}
}

func TestInteractiveLoginCancelled(t *testing.T) {
	h := newHarness(t)
	h.user = "" // Cancel on the sign-in form
	r := h.run("", append([]string{"login", "--interactive"}, h.userFlags()...)...).must(t, exitError)
	if !strings.Contains(r.stderr, "bearer: sign-in failed: flow: authority error") || !strings.Contains(r.stderr, "access_denied") {
		t.Errorf("stderr %q", r.stderr)
	}
	if len(h.pages) != 1 || !strings.Contains(h.pages[0], "access_denied") {
		t.Errorf("page %q", h.pages)
	}
}

func TestAccountsAndAccountChoice(t *testing.T) {
	h := newHarness(t)
	h.login()
	h.user, h.password = bob, bobPW
	h.login()
	acc := h.run("", "accounts").must(t, 0).stdout
	if !regexp.MustCompile(`(?m)^  alice@contoso\.com`).MatchString(acc) || !regexp.MustCompile(`(?m)^\* bob@contoso\.com`).MatchString(acc) {
		t.Errorf("accounts:\n%s", acc)
	}
	var list []accountJSON
	if err := json.Unmarshal([]byte(h.run("", "accounts", "--json").must(t, 0).stdout), &list); err != nil || len(list) != 2 || list[0].Current || !list[1].Current {
		t.Errorf("accounts --json: %+v %v", list, err)
	}
	who := func(args ...string) string {
		t.Helper()
		out := h.run("", append([]string{"get", h.srv.URL + "/v1.0/me", "--scope", graph}, args...)...).must(t, 0).stdout
		var m map[string]any
		_ = json.Unmarshal([]byte(out), &m)
		return m["userPrincipalName"].(string)
	}
	if got := who(); got != bob {
		t.Errorf("default account %s, want the last sign-in's (bob)", got)
	}
	if got := who("--account", alice); got != alice {
		t.Errorf("--account alice: %s", got)
	}
	h.run("", "logout").must(t, 0)
	// bob is gone and the last sign-in forgotten: alice is the only one.
	if got := who(); got != alice {
		t.Errorf("after bob's logout: %s", got)
	}
	h.user, h.password = bob, bobPW
	h.login()
	if err := os.Remove(filepath.Join(h.dir, profileName)); err != nil {
		t.Fatal(err)
	}
	r := h.run("", append([]string{"token", "--scope", graph}, h.userFlags()...)...).must(t, exitUsage)
	if !strings.Contains(r.stderr, "2 accounts are signed in (alice@contoso.com, bob@contoso.com): choose one with --account") {
		t.Errorf("stderr %q", r.stderr)
	}
	h.run("", "logout", "--all").must(t, 0)
	assertNoTokens(t, filepath.Join(h.dir, cacheName))
	if _, err := os.Stat(filepath.Join(h.dir, profileName)); err == nil {
		t.Errorf("logout --all kept the last sign-in")
	}
}

func TestClaimsChallengeRecovery(t *testing.T) {
	h := newHarness(t)
	h.login()
	h.srv.RequireAuthContext("/v1.0/me", "c1")
	r := h.run("", "get", h.srv.URL+"/v1.0/me", "--scope", graph).must(t, 0)
	if !strings.Contains(r.stdout, alice) {
		t.Errorf("stdout %q", r.stdout)
	}
	var withClaims int
	for _, req := range h.srv.RequestsTo(authtest.EndpointToken) {
		if req.GrantType == "refresh_token" && strings.Contains(req.Form.Get("claims"), `"acrs"`) {
			withClaims++
		}
	}
	if withClaims != 1 {
		t.Errorf("%d refresh token requests with the challenge's claims, want 1", withClaims)
	}
	resource := h.srv.RequestsTo(authtest.EndpointResource)
	if len(resource) != 2 || resource[0].Status != 401 || resource[1].Status != 200 {
		t.Errorf("resource requests %v", resource)
	}
}

func TestStepUpNeedsANewSignIn(t *testing.T) {
	h := newHarness(t)
	h.login()
	h.srv.RequireACR("/v1.0/me", "c2", 0)
	r := h.run("", "get", h.srv.URL+"/v1.0/me", "--scope", graph).must(t, exitSignIn)
	if !strings.Contains(r.stderr, "interaction required") || !strings.Contains(r.stderr, "bearer login") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCallsAndStatuses(t *testing.T) {
	h := newHarness(t)
	h.login()
	var mu sync.Mutex
	var seen []*http.Request
	var bodies []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/fail":
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":"down"}`))
		case "/denied":
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"error":"forbidden"}`))
		case "/elsewhere":
			http.Redirect(w, r, h.srv.URL+"/v1.0/me", http.StatusFound)
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer api.Close()
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, []byte(`{"subject":"hi"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	scope := []string{"--scope", graph}
	h.run("", append([]string{"post", api.URL + "/items?sig=SECRETSAS", "--data", "@" + file, "-H", "X-Trace: 7"}, scope...)...).must(t, 0)
	h.run(`plain text`, append([]string{"put", api.URL + "/items/1", "-d", "@-"}, scope...)...).must(t, 0)
	h.run("", append([]string{"patch", api.URL + "/items/1", "--data", `{"a":1}`, "-H", "Content-Type: application/merge-patch+json"}, scope...)...).must(t, 0)
	h.run("", append([]string{"delete", api.URL + "/items/1"}, scope...)...).must(t, 0)
	r5 := h.run("", append([]string{"get", api.URL + "/fail?sig=SECRETSAS"}, scope...)...).must(t, exitHTTP5xx)
	r4 := h.run("", append([]string{"get", api.URL + "/denied"}, scope...)...).must(t, exitHTTP4xx)
	h.run("", append([]string{"get", api.URL + "/elsewhere"}, scope...)...).must(t, exitHTTP4xx) // the resource got no token: 401
	if r5.stdout != `{"error":"down"}` || !strings.Contains(r5.stderr, "GET "+api.URL+"/fail?…: the API answered 503 Service Unavailable") || strings.Contains(r5.stderr, "SECRETSAS") {
		t.Errorf("5xx: %q %q", r5.stdout, r5.stderr)
	}
	if r4.stdout != `{"error":"forbidden"}` || !strings.Contains(r4.stderr, "403 Forbidden") {
		t.Errorf("4xx: %q %q", r4.stdout, r4.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	type want struct{ method, ctype, body string }
	for i, w := range []want{
		{"POST", "application/json", `{"subject":"hi"}`},
		{"PUT", "", "plain text"},
		{"PATCH", "application/merge-patch+json", `{"a":1}`},
		{"DELETE", "", ""},
	} {
		r := seen[i]
		if r.Method != w.method || r.Header.Get("Content-Type") != w.ctype || bodies[i] != w.body || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") {
			t.Errorf("request %d: %s %q %q auth %.10s", i, r.Method, r.Header.Get("Content-Type"), bodies[i], r.Header.Get("Authorization"))
		}
	}
	if seen[0].Header.Get("X-Trace") != "7" {
		t.Errorf("header not sent: %v", seen[0].Header)
	}
	// The redirect to another host went without the token.
	last := h.srv.RequestsTo(authtest.EndpointResource)
	if len(last) != 1 || last[0].Header.Get("Authorization") != "" || last[0].Status != 401 {
		t.Errorf("the redirect target got %v", last)
	}
}

func TestApplicationSignIn(t *testing.T) {
	h := newHarness(t)
	h.env["AZURE_CLIENT_ID"] = appID
	h.env["AZURE_TENANT_ID"] = "contoso.com"
	h.env["AZURE_CLIENT_SECRET"] = appSecret
	h.env["AZURE_AUTHORITY_HOST"] = h.srv.URL
	tok := h.run("", "token", "--scope", graph).must(t, 0).stdout
	if tok2 := h.run("", "token", "--scope", graph).must(t, 0).stdout; tok2 != tok {
		t.Errorf("the second app token differs")
	}
	if n := h.srv.CountRequests(authtest.EndpointToken); n != 1 {
		t.Errorf("%d token requests, want 1 (the second from the file cache)", n)
	}
	me := h.run("", "get", h.srv.URL+"/v1.0/users", "--scope", graph, "-v").must(t, 0)
	if strings.Contains(me.stderr, appSecret) || strings.Contains(me.stderr, strings.TrimSpace(tok)) {
		t.Errorf("the verbose log shows a secret:\n%s", me.stderr)
	}
	if r := h.run("", "accounts").must(t, 0); !strings.Contains(r.stdout, "application "+appID) {
		t.Errorf("accounts: %q", r.stdout)
	}
	h.run("", "logout").must(t, 0)
	assertNoTokens(t, filepath.Join(h.dir, cacheName))

	// A secret file, remembered by login: later commands need no flags.
	clear(h.env)
	h.env["BEARER_CONFIG_DIR"] = h.dir
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(appSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("", "login", "--authority", h.srv.URL, "--tenant", "contoso.com", "--client-id", appID, "--client-secret-file", secretFile).must(t, 0)
	if !strings.Contains(r.stderr, "Signed in as the application "+appID) {
		t.Errorf("login: %q", r.stderr)
	}
	prof, _ := os.ReadFile(filepath.Join(h.dir, profileName))
	if strings.Contains(string(prof), appSecret) || !strings.Contains(string(prof), secretFile) {
		t.Errorf("login.json: %s", prof)
	}
	if tok := h.run("", "token", "--scope", graph).must(t, 0).stdout; tok == "" {
		t.Errorf("no token")
	}
	// A wrong secret: the authority's error, secret-free.
	if err := os.WriteFile(secretFile, []byte("wrong-SECRET-98765"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = h.run("", "token", "--scope", "api://other/.default").must(t, exitError)
	if !strings.Contains(r.stderr, "invalid_client") || strings.Contains(r.stderr, "wrong-SECRET-98765") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestApplicationCertificate(t *testing.T) {
	h := newHarness(t)
	certPEM, keyPEM := selfSigned(t)
	cert, _ := pem.Decode(certPEM)
	parsed, err := x509.ParseCertificate(cert.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	const certApp = "33333333-aaaa-4bbb-8ccc-0000000000ce"
	h.srv.AddClient(authtest.Client{ID: certApp, Certificates: []*x509.Certificate{parsed}})
	file := filepath.Join(t.TempDir(), "app.pem")
	if err := os.WriteFile(file, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run("", "token", "--scope", graph, "--authority", h.srv.URL, "--tenant", "contoso.com", "--client-id", certApp, "--certificate", file).must(t, 0)
	req := h.srv.RequestsTo(authtest.EndpointToken)
	if len(req) != 1 || req[0].Form.Get("client_assertion") == "" || req[0].Form.Get("client_secret") != "" {
		t.Errorf("token requests %v", req)
	}
}

// selfSigned makes a certificate and its RSA key, PEM encoded.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bearer test app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func TestVerboseLogsNoSecrets(t *testing.T) {
	h := newHarness(t)
	login := h.login("--verbose")
	tok := strings.TrimSpace(h.run("", "token", "--scope", graph, "-v").must(t, 0).stdout)
	get := h.run("", "get", h.srv.URL+"/v1.0/me", "--scope", graph, "--verbose").must(t, 0)
	logs := login.stderr + get.stderr
	if !strings.Contains(logs, "level=DEBUG") || !strings.Contains(logs, "flow: interactive") || !strings.Contains(get.stderr, `msg="bearer: response" status=200`) {
		t.Fatalf("no debug records:\n%s", logs)
	}
	secrets := []string{tok, alicePW}
	for _, req := range h.srv.RequestsTo(authtest.EndpointToken) {
		for _, f := range []string{"code", "code_verifier", "refresh_token"} {
			if v := req.Form.Get(f); v != "" {
				secrets = append(secrets, v)
			}
		}
	}
	cacheFile, _ := os.ReadFile(filepath.Join(h.dir, cacheName))
	for _, m := range regexp.MustCompile(`"secret":"([^"]+)"`).FindAllStringSubmatch(string(cacheFile), -1) {
		secrets = append(secrets, m[1])
	}
	if len(secrets) < 5 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			t.Errorf("the verbose log shows a secret (%.6s…)", s)
		}
	}
	// Without --verbose nothing is logged.
	if r := h.run("", "token", "--scope", graph); strings.Contains(r.stderr, "level=") {
		t.Errorf("records without --verbose: %q", r.stderr)
	}
}

func TestConfigDirDefault(t *testing.T) {
	h := newHarness(t)
	home := t.TempDir()
	h.env = map[string]string{"XDG_CONFIG_HOME": filepath.Join(home, "xdg"), "HOME": home, "AppData": filepath.Join(home, "appdata")}
	h.login()
	want, err := userConfigDir(func(k string) string { return h.env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(want, "bearer", cacheName)); err != nil {
		t.Errorf("no cache in the user's configuration directory: %v", err)
	}
}

func TestMalformedLastSignIn(t *testing.T) {
	h := newHarness(t)
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, profileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run("", "token", "--scope", graph).must(t, exitError)
	if !strings.Contains(r.stderr, "is not a sign-in written by bearer") {
		t.Errorf("stderr %q", r.stderr)
	}
	// login replaces it.
	h.login()
	h.run("", "token", "--scope", graph).must(t, 0)
}
