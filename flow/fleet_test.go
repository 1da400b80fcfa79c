package flow

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/redistest"
)

// fleetApp is an application whose cache is in front of the Redis store
// of rc with prefix, as one process of a fleet would make it.
func fleetApp(t *testing.T, srv *authtest.Server, rc redis.UniversalClient, prefix string, client *http.Client, opts ...Option) *Confidential {
	t.Helper()
	if client == nil {
		client = srv.Client()
	}
	store := redisstore.New(rc, prefix)
	return mustConfidential(t, daemonID, credential.Secret(daemonSecret), append([]Option{
		WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(client),
		WithCache(cache.New(cache.WithStore(store))),
	}, opts...)...)
}

// tokenGate holds the token requests of a client until it is opened.
type tokenGate struct {
	entered chan struct{} // a token request arrived (closed once)
	open    chan struct{}
	once    sync.Once
}

func newTokenGate() *tokenGate {
	return &tokenGate{entered: make(chan struct{}), open: make(chan struct{})}
}

func (g *tokenGate) client(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/token") {
			g.once.Do(func() { close(g.entered) })
			select {
			case <-g.open:
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		}
		return base.RoundTrip(r)
	})}
}

// leaseWaiters returns how many clients wait on the one lease of rc.
func leaseWaiters(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	ctx := context.Background()
	keys, err := rc.Keys(ctx, "*:lease:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		return 0
	}
	m, err := rc.PubSubNumSub(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[keys[0]]
}

// waitForWaiters polls (bounded) until n clients wait on the lease.
func waitForWaiters(t *testing.T, rc *redis.Client, n int64) {
	t.Helper()
	for range 4000 {
		if leaseWaiters(t, rc) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, bounded
	}
	t.Fatalf("fewer than %d processes wait on the lease", n)
}

// TestFleetWaiterTakesTheHoldersToken: two applications with their own
// caches (two processes) share a Redis. The first misses and asks the
// authority under the lease; the second misses meanwhile, waits for the
// lease, and takes the token the first stored: one token request.
func TestFleetWaiterTakesTheHoldersToken(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	rs := redistest.Start(t)
	rc := rs.Client()
	g := newTokenGate()
	holder := fleetApp(t, srv, rc, "fleet:", g.client(srv.Client().Transport))
	waiter := fleetApp(t, srv, rc, "fleet:", nil)

	type outcome struct {
		r   Result
		err error
	}
	held := make(chan outcome, 1)
	go func() {
		r, err := holder.AcquireTokenForClient(bg(), []string{graphDefault})
		held <- outcome{r, err}
	}()
	<-g.entered // the holder has the lease and its request is on its way
	waited := make(chan outcome, 1)
	go func() {
		r, err := waiter.AcquireTokenForClient(bg(), []string{graphDefault})
		waited <- outcome{r, err}
	}()
	waitForWaiters(t, rc, 1)
	select {
	case o := <-waited:
		t.Fatalf("the waiter returned while the lease was held: %v, %v", o.r, o.err)
	default:
	}
	close(g.open)
	h, w := <-held, <-waited
	if h.err != nil || w.err != nil {
		t.Fatalf("holder: %v; waiter: %v", h.err, w.err)
	}
	if h.r.FromCache || !w.r.FromCache || h.r.AccessToken != w.r.AccessToken {
		t.Errorf("the waiter did not take the holder's token (holder from cache %v, waiter from cache %v, same token %v)",
			h.r.FromCache, w.r.FromCache, h.r.AccessToken == w.r.AccessToken)
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if keys := rc.Keys(bg(), "*:lease:*").Val(); len(keys) != 0 {
		t.Errorf("the lease %q was not released", keys)
	}
}

// TestFleetHolderKilled: the holder of the lease is killed (SIGKILL)
// while its token request is out. Its lease is renewed no more and
// expires; the waiter then asks the authority itself and succeeds.
func TestFleetHolderKilled(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	rs := redistest.Start(t)
	rc := rs.Client()
	holder := startChild(t, envAuthority+"="+srv.Authority("contoso.com"), envRedis+"="+rs.Addr, envPrefix+"=fleet:",
		envBlockToken+"=1", envLeaseTTL+"=500ms")
	holder.send("token")
	holder.expect("holding") // it holds the lease; its token request never leaves
	waiter := fleetApp(t, srv, rc, "fleet:", nil)
	waited := make(chan error, 1)
	var r Result
	go func() {
		var err error
		r, err = waiter.AcquireTokenForClient(bg(), []string{graphDefault})
		waited <- err
	}()
	waitForWaiters(t, rc, 1)
	select {
	case err := <-waited:
		t.Fatalf("the waiter returned while the holder lived: %v", err)
	default:
	}
	holder.kill()
	if err := <-waited; err != nil {
		t.Fatalf("the waiter failed once the holder was killed: %v", err)
	}
	if r.FromCache {
		t.Error("the waiter's token came from the cache: nobody stored one")
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 1 {
		t.Errorf("%d token requests, want the waiter's 1", n)
	}
}

// TestFleetWithRedisDown: with Redis down, no lease can be taken, and the
// application asks the authority itself.
func TestFleetWithRedisDown(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	rs := redistest.Start(t)
	rc := rs.Client()
	app := fleetApp(t, srv, rc, "fleet:", nil)
	rs.Kill()
	for i := range 3 {
		r, err := app.AcquireTokenForClient(bg(), []string{graphDefault})
		if err != nil {
			t.Fatalf("call %d with Redis down: %v", i, err)
		}
		if (i > 0) != r.FromCache {
			t.Errorf("call %d: from cache %v", i, r.FromCache)
		}
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestFleetDisabled: without fleet coalescing, a waiter does not wait:
// two processes missing together make two requests.
func TestFleetDisabled(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	rs := redistest.Start(t)
	rc := rs.Client()
	g := newTokenGate()
	off := WithFleetCoalescing(FleetCoalescing{Disabled: true})
	first := fleetApp(t, srv, rc, "fleet:", g.client(srv.Client().Transport), off)
	second := fleetApp(t, srv, rc, "fleet:", nil, off)
	done := make(chan error, 1)
	go func() {
		_, err := first.AcquireTokenForClient(bg(), []string{graphDefault})
		done <- err
	}()
	<-g.entered
	if _, err := second.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatal(err)
	}
	close(g.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if keys := rc.Keys(bg(), "*:lease:*").Val(); len(keys) != 0 {
		t.Errorf("a lease %q was taken", keys)
	}
}

// TestFleetColdStart starts 20 processes that share a Redis and ask for
// the same token together: they make one token request between them.
// Without fleet coalescing, the same start is measured for comparison.
func TestFleetColdStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		check func(t *testing.T, requests int)
	}{
		{"coalesced", nil, func(t *testing.T, n int) {
			if n != 1 {
				t.Errorf("20 processes made %d token requests, want 1", n)
			}
		}},
		{"not coalesced", []string{envNoFleet + "=1"}, func(t *testing.T, n int) {
			t.Logf("without fleet coalescing, 20 processes made %d token requests", n)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const processes = 20
			srv := authtest.NewServer(t)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			rs := redistest.Start(t)
			env := append([]string{envAuthority + "=" + srv.Authority("contoso.com"), envRedis + "=" + rs.Addr, envPrefix + "=fleet:"}, tc.env...)
			children := make([]*childApp, processes)
			for i := range children {
				children[i] = launchChild(t, env...)
			}
			for _, c := range children {
				c.expect("ready")
			}
			// Every child is ready: they all ask at once.
			for _, c := range children {
				c.send("token")
			}
			hashes := map[string]int{}
			for _, c := range children {
				f := strings.Fields(c.expect("token "))
				hashes[f[1]]++
			}
			for _, c := range children {
				c.exit()
			}
			n := len(srv.RequestsTo(authtest.EndpointToken))
			tc.check(t, n)
			if n == 1 && len(hashes) != 1 {
				t.Errorf("one token request, but the processes hold %d tokens", len(hashes))
			}
			t.Logf("%s: %d processes, %d token requests, %d distinct tokens", tc.name, processes, n, len(hashes))
		})
	}
}
