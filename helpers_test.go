package bearer

import (
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
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// worldHosts are the names the test certificate is valid for. Every one
// resolves to 127.0.0.1 through world's dialer: no packet leaves loopback.
var worldHosts = []string{
	"graph.microsoft.com", "example.com", "example.net",
	"*.blob.core.windows.net", "*.vault.azure.net", "management.azure.com",
}

// world is a set of TLS servers on loopback that answer for real host
// names, and a base transport that trusts them and dials every host to
// 127.0.0.1 on the URL's port.
type world struct {
	cert tls.Certificate
	base *http.Transport
}

var (
	worldCertOnce sync.Once
	worldCert     tls.Certificate
	worldPool     *x509.CertPool
)

func newWorld(t testing.TB) *world {
	t.Helper()
	worldCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "bearer test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              worldHosts,
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		worldCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		worldPool = x509.NewCertPool()
		worldPool.AddCert(leaf)
	})
	d := &net.Dialer{Timeout: 5 * time.Second}
	base := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
		},
		TLSClientConfig: &tls.Config{RootCAs: worldPool},
	}
	t.Cleanup(base.CloseIdleConnections)
	return &world{cert: worldCert, base: base}
}

// server is one test server and what it saw.
type server struct {
	*httptest.Server
	port  string
	conns atomic.Int64 // connections accepted
}

// url returns the https URL of path on the server under host.
func (s *server) url(host, path string) string {
	scheme := "https"
	if s.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(host, s.port) + path
}

// tls starts a TLS server with the world's certificate.
func (w *world) tls(t testing.TB, h http.Handler) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{w.cert}}
	// Connections a client dialed but did not use are closed at shutdown
	// mid-handshake; the server would log each.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// plain starts a plain HTTP server.
func (w *world) plain(t testing.TB, h http.Handler) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// recordingSource hands out token-1, token-2, … and records every request.
type recordingSource struct {
	mu   sync.Mutex
	reqs []TokenRequest
	fail func(TokenRequest) error // optional: an error for some requests
	typ  string                   // TokenType of the tokens
}

func (s *recordingSource) Token(ctx context.Context, req TokenRequest) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, req)
	if s.fail != nil {
		if err := s.fail(req); err != nil {
			return Token{}, err
		}
	}
	return Token{
		AccessToken: fmt.Sprintf("token-%d", len(s.reqs)),
		TokenType:   s.typ,
		ExpiresOn:   time.Now().Add(time.Hour),
		Scopes:      req.Scopes,
	}, nil
}

func (s *recordingSource) requests() []TokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TokenRequest(nil), s.reqs...)
}

// hit is one request a handler saw.
type hit struct {
	auth string
	body string
	path string
}

// recorder records the requests a handler sees.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

func (r *recorder) add(h hit) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits = append(r.hits, h)
	return len(r.hits)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits = nil
}

func (r *recorder) all() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

// claimsChallenge is a CAE challenge whose claims decode to caeClaims.
const (
	caeClaims       = `{"access_token":{"nbf":{"essential":true,"value":"1726077595"},"xms_caeerror":{"value":"10012"}}}`
	claimsChallenge = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In0sInhtc19jYWVlcnJvciI6eyJ2YWx1ZSI6IjEwMDEyIn19fQ=="`
)

// unauthorized writes a 401 with the challenge and a body of n bytes.
func unauthorized(w http.ResponseWriter, challenge string, n int) {
	w.Header().Set("WWW-Authenticate", challenge)
	w.WriteHeader(http.StatusUnauthorized)
	w.Write(make([]byte, n))
}
