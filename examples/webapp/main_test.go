package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWatcher is run's output: it keeps the lines, and closes ready once
// the line with the URL to open is written.
type lineWatcher struct {
	mu    sync.Mutex
	text  strings.Builder
	ready chan struct{}
	once  sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text.Write(p)
	if strings.Contains(w.text.String(), "webapp: open ") {
		w.once.Do(func() { close(w.ready) })
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

var (
	openLine     = regexp.MustCompile(`(?m)^webapp: open (http://\S+)/$`)
	passwordLine = regexp.MustCompile(`(?m)^webapp: sign in as (\S+) with the password (\S+)$`)
)

// TestOneCommand runs the app as `go run ./examples/webapp` does, against
// its in-process authority: the printed user signs in through the
// printed URL, sees the profile, and the home page's buttons make the
// authority revoke the session (recovered from silently) and demand a
// step-up (passed by signing in again).
func TestOneCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWatcher{ready: make(chan struct{})}
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, out, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	select {
	case <-out.ready:
	case err := <-done:
		t.Fatalf("run returned %v before serving:\n%s", err, out)
	}
	m, pw := openLine.FindStringSubmatch(out.String()), passwordLine.FindStringSubmatch(out.String())
	if m == nil || pw == nil {
		t.Fatalf("the output lacks the URL or the user:\n%s", out)
	}
	appURL, user, password := m[1], pw[1], pw[2]
	if !strings.HasPrefix(appURL, "http://localhost:") {
		t.Errorf("the URL to open is %s, want http://localhost:<port>", appURL)
	}

	b := newBrowser(t)
	p := b.signedInAt(appURL, "/profile", user, password)
	expect(t, p, http.StatusOK, "/profile", `id="profile-name">Adele Vance<`)

	home := b.get(appURL + "/")
	expect(t, home, http.StatusOK, "/", `id="demo-revoke"`, `id="demo-step-up"`)
	p = b.post(appURL+"/demo/revoke", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", "revoked your session")
	p = b.get(appURL + "/profile")
	expect(t, p, http.StatusOK, "/profile", `id="profile-name">Adele Vance<`, "a claims challenge (insufficient_claims)")

	p = b.post(appURL+"/demo/step-up", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", "demands a stronger sign-in")
	b.visited = nil
	p = b.get(appURL + "/api")
	expect(t, p, http.StatusOK, "/api", `id="api-result"`, `"scp": "Orders.Read"`)
	stepUp := false
	for _, u := range b.visited {
		if u.Query().Get("acr_values") == stepUpACR {
			stepUp = true
		}
	}
	if !stepUp {
		t.Errorf("calling the API after the step-up button went through no sign-in with acr_values=%s: %v", stepUpACR, b.visited)
	}

	home = b.get(appURL + "/")
	if p = b.post(appURL+"/demo/delete-everything", url.Values{"csrf": {b.csrf(home)}}, nil); p.status != http.StatusNotFound {
		t.Errorf("an unknown demo button: status %d, want 404", p.status)
	}
	if p = b.post(appURL+"/demo/revoke", url.Values{"csrf": {"forged"}}, nil); p.status != http.StatusForbidden {
		t.Errorf("a demo button without the session's CSRF token: status %d, want 403", p.status)
	}
	p = b.post(appURL+"/demo/reset", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", "demands are lifted")
	p = b.post(appURL+"/logout", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", `id="signed-out"`)
	// The demo's buttons need a signed-in session.
	p = b.post(appURL+"/demo/revoke", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", "Sign in first")

	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the log shows the user's password")
	}
}

// TestRunRefusesBadFlags: run stops on a bad command line before serving.
func TestRunRefusesBadFlags(t *testing.T) {
	err := run(context.Background(), []string{"-tenant", "contoso.com"}, func(string) string { return "" }, io.Discard, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "no client ID") {
		t.Errorf("run: %v, want the missing client ID", err)
	}
}

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "app.pem")
	if err := os.WriteFile(cert, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "no flags: the local authority", env: env("AZURE_CLIENT_ID", "ignored"), check: func(t *testing.T, o options) {
			if !o.local() || o.addr != "127.0.0.1:8080" || strings.Join(o.scopes, " ") != "User.Read" {
				t.Errorf("%+v", o)
			}
		}},
		{name: "a tenant with a secret from the environment", args: []string{"-tenant", "contoso.com", "-client-id", "app"},
			env: env("AZURE_CLIENT_SECRET", "s"), check: func(t *testing.T, o options) {
				if o.local() || o.authority != "https://login.microsoftonline.com/contoso.com" || o.secret != "s" || o.clientID != "app" {
					t.Errorf("%+v", o)
				}
			}},
		{name: "an authority, the client from the environment, a certificate, an API", args: []string{
			"-authority", "https://login.microsoftonline.com/organizations", "-cert", cert,
			"-api-url", "https://api.contoso.com/orders", "-api-scope", "api://orders/read api://orders/write",
			"-url", "https://app.contoso.com/", "-scopes", "User.Read Mail.Read"},
			env: env("AZURE_CLIENT_ID", "app"), check: func(t *testing.T, o options) {
				if o.clientID != "app" || o.cert != cert || len(o.apiScopes) != 2 || o.publicURL != "https://app.contoso.com" || len(o.scopes) != 2 {
					t.Errorf("%+v", o)
				}
			}},
		{name: "no client ID", args: []string{"-tenant", "t"}, env: env("AZURE_CLIENT_SECRET", "s"), wantErr: "no client ID"},
		{name: "no credential", args: []string{"-tenant", "t", "-client-id", "c"}, env: env(), wantErr: "no credential"},
		{name: "a secret and a certificate", args: []string{"-tenant", "t", "-client-id", "c", "-cert", cert}, env: env("AZURE_CLIENT_SECRET", "s"), wantErr: "give one"},
		{name: "a tenant and an authority", args: []string{"-tenant", "t", "-authority", "https://login.microsoftonline.com/t"}, env: env(), wantErr: "give one"},
		{name: "an API URL without scopes", args: []string{"-tenant", "t", "-client-id", "c", "-api-url", "https://api.example"}, env: env("AZURE_CLIENT_SECRET", "s"), wantErr: "go together"},
		{name: "an API of one's own with the local authority", args: []string{"-api-url", "https://api.example", "-api-scope", "x"}, env: env(), wantErr: "need -tenant"},
		{name: "a public URL with a path", args: []string{"-url", "https://app.example/app"}, env: env(), wantErr: "no path"},
		{name: "a public URL of another scheme", args: []string{"-url", "ftp://app.example"}, env: env(), wantErr: "want http(s)"},
		{name: "the secret on the command line", args: []string{"-client-secret", "s"}, env: env(), wantErr: "not defined"},
		{name: "stray arguments", args: []string{"extra"}, env: env(), wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

// TestCredentialOf: a certificate file that does not parse is an error
// naming the file; the secret wins when there is one.
func TestCredentialOf(t *testing.T) {
	if c, err := credentialOf(options{secret: "s"}); err != nil || c == nil {
		t.Errorf("secret: %v, %v", c, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN NOTHING-----"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := credentialOf(options{cert: bad}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("a bad certificate file: %v", err)
	}
	if _, err := credentialOf(options{cert: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("a missing certificate file: no error")
	}
}

// TestInterruptClosesConnectionsThatSentNothing interrupts the app while
// a client (as a browser's speculative connection) holds a connection
// that never sent a request: after the grace period the app closes it
// and exits cleanly, instead of failing with the shutdown's deadline.
func TestInterruptClosesConnectionsThatSentNothing(t *testing.T) {
	defer func(d time.Duration) { shutdownGrace = d }(shutdownGrace)
	shutdownGrace = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWatcher{ready: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, func(string) string { return "" }, out, slog.New(slog.DiscardHandler))
	}()
	select {
	case <-out.ready:
	case err := <-done:
		t.Fatalf("run returned %v before serving:\n%s", err, out)
	}
	u, err := url.Parse(openLine.FindStringSubmatch(out.String())[1])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+u.Port())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after an interrupt: %v, want nil", err)
	}
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Errorf("the idle connection is still open (read %d bytes)", n)
	}
}
