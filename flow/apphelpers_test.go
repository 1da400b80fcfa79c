package flow

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// t0 is where the tests that move the clock stop authtest's clock.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	daemonID     = "daemon-app"
	daemonSecret = "daemon-s3cret-VALUE"
)

// newDaemon returns an authtest server (TLS, posing as Entra, on a
// stopped clock at t0) with the client daemonID, and a confidential
// client of it for contoso.com sharing the server's clock.
func newDaemon(t *testing.T, opts ...Option) (*authtest.Server, *Confidential) {
	t.Helper()
	srv := authtest.NewTLSServer(t)
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
		append([]Option{WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, opts...)...)
	return srv, app
}

// mustConfidential builds a Confidential or fails the test.
func mustConfidential(t testing.TB, clientID string, cred credential.Credential, opts ...Option) *Confidential {
	t.Helper()
	app, err := NewConfidential(clientID, cred, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// gate is an http.RoundTripper that holds back every POST (token
// request) while it is shut, counting the ones it held.
type gate struct {
	base    http.RoundTripper
	mu      sync.Mutex
	open    bool
	release chan struct{}
	held    int
}

// newGate returns a shut gate in front of base.
func newGate(base http.RoundTripper) *gate {
	return &gate{base: base, release: make(chan struct{})}
}

// Open lets every request through, the held ones first.
func (g *gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		close(g.release)
		g.open = true
	}
}

// Shut holds back the requests from now on.
func (g *gate) Shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		g.release = make(chan struct{})
		g.open = false
	}
}

// Held returns how many requests the gate has held.
func (g *gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		g.mu.Lock()
		release := g.release
		if !g.open {
			g.held++
		}
		g.mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return g.base.RoundTrip(r)
}

// client is an http.Client with transport rt.
func client(rt http.RoundTripper) *http.Client { return &http.Client{Transport: rt} }

// waitFor spins (yielding the processor) until cond holds, failing the
// test after a generous bound: a synchronisation on state, not on time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// waiters returns how many callers wait on flights of a.
func (a *app) waiters() int {
	a.flights.mu.Lock()
	defer a.flights.mu.Unlock()
	n := 0
	for _, f := range a.flights.m {
		n += f.waiters
	}
	return n
}

// refreshes records the outcome of every background refresh of a.
func refreshes(a *app) <-chan error {
	ch := make(chan error, 16)
	a.onRefreshed = func(_ string, err error) { ch <- err }
	return ch
}

// recv returns the next value of ch, failing the test after a generous
// bound.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("gave up waiting")
		panic("unreachable")
	}
}

func bg() context.Context { return context.Background() }
