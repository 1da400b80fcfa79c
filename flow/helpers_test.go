package flow

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

// testNow is the injected clock of these tests.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: testNow} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// seenRequest is what a test server saw of one request.
type seenRequest struct {
	Method, Host, Path string
	Query              url.Values
	Header             http.Header
	Form               url.Values
}

// server is an httptest server that records requests and answers with a
// handler per path (exact path, or "*" for any other).
type server struct {
	*httptest.Server
	mu       sync.Mutex
	seen     []seenRequest
	handlers map[string]http.HandlerFunc
}

func newServer(t *testing.T, tlsNames ...string) *server {
	t.Helper()
	s := &server{handlers: map[string]http.HandlerFunc{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{r.Method, r.Host, r.URL.Path, r.URL.Query(), r.Header.Clone(), form})
		hf, ok := s.handlers[r.URL.Path]
		if !ok {
			hf = s.handlers["*"]
		}
		s.mu.Unlock()
		if hf == nil {
			http.NotFound(w, r)
			return
		}
		hf(w, r)
	})
	if len(tlsNames) == 0 {
		s.Server = httptest.NewServer(h)
	} else {
		s.Server = httptest.NewUnstartedServer(h)
		s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.Server.TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t, tlsNames)}}
		s.Server.StartTLS()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	s.handlers[path] = h
	s.mu.Unlock()
}

func (s *server) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// count returns how many requests had path.
func (s *server) count(path string) int {
	n := 0
	for _, r := range s.requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// testCert is a self-signed certificate for names.
func testCert(t *testing.T, names []string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "flow test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// loopbackClient is an http.Client that sends every request to a host
// name, whatever the name, to s (so a test can pose as Entra's real hosts without a packet
// leaving the machine), trusting s's certificate, and counts requests.
type loopbackClient struct {
	*http.Client
	n atomic.Int64
}

func newLoopbackClient(t *testing.T, s *server) *loopbackClient {
	t.Helper()
	pool := x509.NewCertPool()
	if s.TLS != nil {
		for _, c := range s.TLS.Certificates {
			cert, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			pool.AddCert(cert)
		}
	}
	addr := s.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, to string) (net.Conn, error) {
			dst := addr
			if h, _, err := net.SplitHostPort(to); err == nil && net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
				dst = to // a loopback address is dialled as it is
			}
			return (&net.Dialer{}).DialContext(ctx, network, dst)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}
	t.Cleanup(tr.CloseIdleConnections)
	lc := &loopbackClient{}
	lc.Client = &http.Client{Transport: countingTransport{tr, &lc.n}}
	return lc
}

type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// refuseClient fails the test on any request.
func refuseClient(t *testing.T) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		return nil, fmt.Errorf("no request expected")
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// tokenHandler answers with a token whose value is accessToken.
func tokenHandler(accessToken string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":%q}`, accessToken))
	}
}

// sleeps records the waits asked for, without waiting.
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

// testCredential is a client credential for tests: a client secret, or
// (assertion true) a fresh assertion per call. It records every Request.
type testCredential struct {
	secret    string
	assertion bool
	mu        sync.Mutex
	reqs      []credential.Request
}

func (c *testCredential) Apply(_ context.Context, req credential.Request, form url.Values, _ http.Header) error {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	n := len(c.reqs)
	c.mu.Unlock()
	if c.assertion {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", fmt.Sprintf("%s.%d", c.secret, n))
		return nil
	}
	form.Set("client_secret", c.secret)
	return nil
}

func (c *testCredential) requests() []credential.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]credential.Request(nil), c.reqs...)
}

// logBuffer collects debug-level log output.
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

// endpointsFor returns the endpoints of the authority a call with cc goes
// to, as the token calls find them (authorityFor, then endpointsOf).
func (c *core) endpointsFor(ctx context.Context, cc callConfig) (*endpoints, error) {
	a, err := c.authorityFor(cc)
	if err != nil {
		return nil, err
	}
	return c.endpointsOf(ctx, a)
}

// mustCore builds a core or fails the test.
func mustCore(t *testing.T, clientID string, opts ...Option) *core {
	t.Helper()
	cfg, err := newConfig(opts...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCore(clientID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func contains(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}
