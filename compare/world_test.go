package compare

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// worldHosts are the host names the resource servers' certificate is
// valid for. Every one is dialed at 127.0.0.1 by world's transport: no
// packet leaves loopback.
var worldHosts = []string{"graph.microsoft.com", "*.graph.microsoft.com", "example.com", "login.microsoftonline.com"}

var (
	worldOnce sync.Once
	worldCert tls.Certificate
	worldPool *x509.CertPool
)

// world is a set of loopback servers answering for real host names, and
// a transport that trusts them and dials every host at 127.0.0.1 on the
// URL's port.
type world struct {
	base *http.Transport
}

func newWorld(tb testing.TB) *world {
	tb.Helper()
	worldOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "compare"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              worldHosts,
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
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
		},
		TLSClientConfig: &tls.Config{RootCAs: worldPool},
	}
	tb.Cleanup(base.CloseIdleConnections)
	return &world{base: base}
}

// server is one loopback server of the world.
type server struct {
	*httptest.Server
	port string
}

// url is the URL of path on s under host.
func (s *server) url(host, path string) string {
	scheme := "https"
	if s.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + net.JoinHostPort(host, s.port) + path
}

// tls starts an HTTPS server for every name of worldHosts.
func (w *world) tls(tb testing.TB, h http.Handler) *server {
	tb.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.TLS = &tls.Config{Certificates: []tls.Certificate{worldCert}}
	// Connections a client dialed but did not use are closed
	// mid-handshake at shutdown; the server would log each.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	tb.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// plain starts a plain HTTP server.
func (w *world) plain(tb testing.TB, h http.Handler) *server {
	tb.Helper()
	s := &server{Server: httptest.NewServer(h)}
	tb.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

// hit is one request a server received: its Authorization header and
// body.
type hit struct {
	auth, body string
}

// recorder keeps the requests a handler received.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

// record reads r's body and keeps it with r's Authorization header.
func (rec *recorder) record(r *http.Request) hit {
	body, _ := io.ReadAll(r.Body)
	h := hit{auth: r.Header.Get("Authorization"), body: string(body)}
	rec.mu.Lock()
	rec.hits = append(rec.hits, h)
	rec.mu.Unlock()
	return h
}

func (rec *recorder) all() []hit {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]hit(nil), rec.hits...)
}
