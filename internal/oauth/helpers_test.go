package oauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testNow is the injected clock of these tests.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// attempt is what the server saw of one request.
type attempt struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Form   url.Values
}

// step answers one attempt.
type step func(w http.ResponseWriter, r *http.Request)

// authority is an httptest server answering attempts with steps in
// order, then with success.
type authority struct {
	*httptest.Server
	mu       sync.Mutex
	steps    []step
	attempts []attempt
	success  step
}

func newAuthority(t testing.TB, steps ...step) *authority {
	t.Helper()
	return newAuthorityServer(t, false, steps...)
}

// newTLSAuthority is newAuthority over https, with httptest's certificate
// (which every httptest TLS server shares: one client trusts them all).
func newTLSAuthority(t testing.TB, steps ...step) *authority {
	t.Helper()
	return newAuthorityServer(t, true, steps...)
}

func newAuthorityServer(t testing.TB, tls bool, steps ...step) *authority {
	t.Helper()
	a := &authority{steps: steps, success: okToken}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		a.mu.Lock()
		a.attempts = append(a.attempts, attempt{r.Method, r.URL.Path, r.URL.Query(), r.Header.Clone(), form})
		var s step
		if len(a.steps) > 0 {
			s, a.steps = a.steps[0], a.steps[1:]
		} else {
			s = a.success
		}
		a.mu.Unlock()
		s(w, r)
	})
	if tls {
		a.Server = httptest.NewTLSServer(h)
	} else {
		a.Server = httptest.NewServer(h)
	}
	t.Cleanup(a.Close)
	return a
}

func (a *authority) seen() []attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]attempt(nil), a.attempts...)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func okToken(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, `{"access_token":"at-secret-value","token_type":"Bearer","expires_in":3599,"ext_expires_in":7199,"scope":"https://graph.microsoft.com/.default"}`)
}

func status(code int, header ...string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		writeJSON(w, code, fmt.Sprintf(`{"error":"e%d","error_description":"status %d"}`, code, code))
	}
}

func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// sleeps records the waits a Client asks for, without waiting.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testClient is a Client on the injected clock whose waits are recorded.
func testClient(s *sleeps) *Client {
	return &Client{Now: func() time.Time { return testNow }, Sleep: s.sleep}
}

// signer is a test client credential: it adds a fresh assertion to every
// form it is given and counts its calls.
type signer struct {
	calls atomic.Int64
}

func (s *signer) authenticate(_ context.Context, form url.Values, _ http.Header) error {
	n := s.calls.Add(1)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", fmt.Sprintf("assertion-secret-%d-%d", n, time.Now().UnixNano()))
	return nil
}

func tokenRequest(url string, s *signer) *Request {
	return &Request{
		URL:          url + "/tenant/oauth2/v2.0/token",
		Form:         ClientCredentialsForm("client-id", []string{"https://graph.microsoft.com/.default"}, ""),
		Authenticate: s.authenticate,
	}
}

// logBuffer is a debug-level slog logger writing to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustNotContain fails when text contains any of secrets.
func mustNotContain(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains the secret %q:\n%s", what, s, text)
		}
	}
}
