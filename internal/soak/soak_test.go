package soak_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

const (
	clientID     = "50a50a50-1111-4222-8333-444444444444"
	clientSecret = "soak-test-not-a-real-secret"
	scope        = "https://graph.microsoft.com/.default"

	senders         = 64
	tokenLifetime   = 2 * time.Second
	tokenRefreshIn  = time.Second
	revokeEvery     = 5 * time.Second
	faultEvery      = 3 * time.Second // the least time between two bursts
	controlEvery    = 50 * time.Millisecond
	faultBurst      = 2 // faults per burst: a token request retries twice
	slowAnswer      = 400 * time.Millisecond
	staleBurstAfter = 3 * time.Second // an unmet burst is replaced after this long
	seqHeader       = "X-Soak-Seq"
)

// soakRequests is how many requests the soak sends: SOAK_REQUESTS, else
// 200,000 (30,000 under the race detector).
func soakRequests(t *testing.T) int {
	if v := os.Getenv("SOAK_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4*senders {
			t.Fatalf("SOAK_REQUESTS=%q: want a number of requests, at least %d", v, 4*senders)
		}
		return n
	}
	if raceEnabled {
		return 30_000
	}
	return 200_000
}

// TestSoak is the outage soak (see the package documentation): 64
// senders through bearer.Transport and a flow client credentials source,
// 2 s tokens refreshed in the background, a CAE revocation every 5 s,
// and bursts of 503s, dropped connections and slow answers at the token
// endpoint. Every request must succeed, none may reach the resource
// without a token or more than twice, and the heap must stay flat.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs for tens of seconds")
	}
	n := soakRequests(t)
	discard := slog.New(slog.DiscardHandler)
	srv := authtest.NewServer(t,
		authtest.WithLogger(discard),
		authtest.WithTokenLifetime(tokenLifetime),
		authtest.WithTokenRefreshIn(tokenRefreshIn),
		authtest.WithRequestLimit(16), // the record of token requests stays small: the heap is measured
	)
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret})

	// The resource: authtest's, behind a counter of what reaches it.
	res := newResource(srv.Resource(), n)
	rs := httptest.NewServer(res)
	defer rs.Close()

	// The authority's side of the client: every attempt is watched, and
	// faults are injected between token requests.
	var refreshing, refreshes atomic.Int64 // background refreshes under way, started
	wire := newAuthorityWire(srv)
	authorityTransport := &http.Transport{MaxIdleConnsPerHost: 16}
	wire.base = authorityTransport
	wire.refreshing = func() bool { return refreshing.Load() > 0 }
	defer authorityTransport.CloseIdleConnections()

	var refreshFailed atomic.Int64
	var background sync.WaitGroup // background refreshes under way
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority(srv.Authority("contoso.com")),
		flow.WithCapabilities("cp1"), // CAE: Revoke makes the resource challenge
		flow.WithHTTPClient(&http.Client{Transport: wire}),
		flow.WithLogger(discard),
		flow.WithTrace(&flow.Trace{
			RefreshStart: func(context.Context, flow.RefreshInfo) context.Context {
				background.Add(1)
				refreshes.Add(1)
				refreshing.Add(1)
				return nil
			},
			RefreshDone: func(_ context.Context, info flow.RefreshDoneInfo) {
				if info.Outcome == flow.OutcomeFailed {
					refreshFailed.Add(1)
				}
				refreshing.Add(-1)
				background.Done()
			},
		}),
	)
	if err != nil {
		t.Fatal(err)
	}

	var challenges, resendsCAE, resendsOther, tokenErrors atomic.Int64
	resourceTransport := &http.Transport{MaxIdleConnsPerHost: 2 * senders}
	defer resourceTransport.CloseIdleConnections()
	client := &http.Client{Transport: &bearer.Transport{
		Source:       app.ClientSource(),
		Scopes:       []string{scope},
		Base:         resourceTransport,
		AllowedHosts: []string{"127.0.0.1"},
		Trace: &bearer.TransportTrace{
			Challenge: func(context.Context, bearer.ChallengeInfo) { challenges.Add(1) },
			Resend: func(_ context.Context, info bearer.ResendInfo) {
				if info.Kind == bearer.ChallengeCAE {
					resendsCAE.Add(1)
				} else {
					resendsOther.Add(1)
				}
			},
			TokenDone: func(_ context.Context, info bearer.TokenDoneInfo) {
				if info.Err != nil {
					tokenErrors.Add(1)
				}
			},
		},
	}}

	// Revocations and fault bursts, started between token requests, until
	// the senders are done.
	stop := make(chan struct{})
	var control sync.WaitGroup
	control.Go(func() {
		tick := time.NewTicker(controlEvery)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				wire.control(now)
			}
		}
	})

	// The senders, in four quarters; the heap is measured between them.
	lat := make([]uint32, n)  // microseconds
	class := make([]uint8, n) // classQuiet, classRefresh or classOutage
	var failures atomic.Int64
	var failMu sync.Mutex
	var failSamples []string
	fail := func(i int, format string, args ...any) {
		failures.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(failSamples) < 10 {
			failSamples = append(failSamples, fmt.Sprintf("request %d: ", i)+fmt.Sprintf(format, args...))
		}
	}
	send := func(i int) {
		method, body := http.MethodGet, ""
		var rd io.Reader
		if i%2 == 0 {
			method, body = http.MethodPost, "soak-"+strconv.Itoa(i)
			rd = strings.NewReader(body) // replayable: GetBody is set
		}
		req, err := http.NewRequest(method, rs.URL+"/resource/soak", rd)
		if err != nil {
			fail(i, "%v", err)
			return
		}
		req.Header.Set(seqHeader, strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			fail(i, "%v", err)
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			fail(i, "reading the answer: %v", err)
		case resp.StatusCode != http.StatusOK:
			fail(i, "status %d: %.200s", resp.StatusCode, b)
		case body != "" && !bytes.Contains(b, []byte(`"body":"`+body+`"`)):
			fail(i, "the resource did not get the body %q: %.200s", body, b)
		}
	}
	var heap [4]uint64
	start := time.Now()
	for q := range 4 {
		var next atomic.Int64
		next.Store(int64(q * n / 4))
		end := int64((q + 1) * n / 4)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if i >= end {
						return
					}
					// A request is classed by whether a background refresh
					// was under way when it started, not by whether it
					// overlapped one: long requests overlap more, so
					// classing by overlap would compare long requests with
					// short ones. An outage counts when it overlaps.
					refreshUnderWay := refreshing.Load() > 0
					out, outGen := wire.outage()
					t0 := time.Now()
					send(int(i))
					d := time.Since(t0)
					lat[i] = uint32(min(d/time.Microsecond, 1<<32-1))
					out2, outGen2 := wire.outage()
					switch {
					case out || out2 || outGen != outGen2:
						class[i] = classOutage
					case refreshUnderWay:
						class[i] = classRefresh
					}
				}
			})
		}
		wg.Wait()
		heap[q] = heapAfterGC()
	}
	elapsed := time.Since(start)
	close(stop)
	control.Wait()
	// The senders are done, so no refresh starts any more: wait for the
	// ones under way (a refresh may be retrying after a fault), so that
	// goleak finds nothing of the soak's.
	srv.ClearFaults()
	background.Wait()

	// The figures.
	var byClass [classCount][]uint32
	for i, d := range lat {
		byClass[class[i]] = append(byClass[class[i]], d)
	}
	var p50, p99, top [classCount]uint32
	for c := range classCount {
		p50[c], p99[c], top[c] = percentiles(byClass[c])
	}
	hits := res.histogram()
	w := wire.snapshot()
	t.Logf("soak: %d requests from %d senders in %v (%.0f/s); %d failed\n"+
		"  authority: %d token requests (%d answered 200), %d background refreshes (%d failed), %d revocations, %d outage windows\n"+
		"  faults injected (met): 503+Retry-After %d (%d), dropped connection %d (%d), %v answer %d (%d)\n"+
		"  resource: %d requests, %d without a token, %d challenges (%d insufficient_claims, %d token expired, at most %v after its exp); requests sent once %d, twice %d, more %d\n"+
		"  transport: %d CAE resends, %d other resends, %d token errors\n"+
		"  latency p50/p99/max: quiet (%d requests) %v/%v/%v; started during a background refresh (%d) %v/%v/%v, p99 ratio %.2f; during an outage (%d) %v/%v/%v\n"+
		"  heap after GC at each quarter: %s; end/half %.3f",
		n, senders, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), failures.Load(),
		w.tokenRequests, w.tokenOK, refreshes.Load(), refreshFailed.Load(), w.revocations, (wire.outages.Load()+1)/2,
		w.injected[kind503], w.met[kind503], w.injected[kindDrop], w.met[kindDrop], slowAnswer, w.injected[kindSlow], w.met[kindSlow],
		res.requests.Load(), res.noToken.Load(), res.challenged.Load(), res.claims.Load(), res.expired.Load(), res.lateBy(), hits[1], hits[2], hits[3],
		resendsCAE.Load(), resendsOther.Load(), tokenErrors.Load(),
		len(byClass[classQuiet]), us(p50[classQuiet]), us(p99[classQuiet]), us(top[classQuiet]),
		len(byClass[classRefresh]), us(p50[classRefresh]), us(p99[classRefresh]), us(top[classRefresh]), ratio(p99[classRefresh], p99[classQuiet]),
		len(byClass[classOutage]), us(p50[classOutage]), us(p99[classOutage]), us(top[classOutage]),
		heapString(heap), float64(heap[3])/float64(heap[1]),
	)

	// The assertions.
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of %d requests failed; the first:\n  %s", f, n, strings.Join(failSamples, "\n  "))
	}
	if v := res.noToken.Load(); v != 0 {
		t.Errorf("%d requests reached the resource without a token", v)
	}
	if hits[0] != 0 {
		t.Errorf("%d requests never reached the resource", hits[0])
	}
	if hits[3] != 0 {
		t.Errorf("%d requests were sent to the resource more than twice (a challenge loop)", hits[3])
	}
	if resends := resendsCAE.Load() + resendsOther.Load(); resends != int64(hits[2]) || resends > challenges.Load() {
		t.Errorf("%d resends (transport), %d requests sent twice (resource), %d challenges: every resend answers one challenge, and is seen by the resource",
			resends, hits[2], challenges.Load())
	}
	if got := res.challenged.Load(); got != challenges.Load() {
		t.Errorf("the resource sent %d challenges, the transport saw %d", got, challenges.Load())
	}
	// A revocation meets the requests of the senders holding the revoked
	// token: one challenge each at most, since a claims token replaces
	// the cached token and every token minted after the revocation passes
	// (none is under way when it happens). More would mean that the
	// revoked token kept being served.
	if r := int64(w.revocations); r == 0 {
		t.Errorf("no revocation: the soak ended within %v", revokeEvery)
	} else if c := resendsCAE.Load(); c < 1 || c > senders*r {
		t.Errorf("%d CAE resends for %d revocations, want between 1 and %d (one a sender at most)", c, r, senders*r)
	}
	for k := range kindCount {
		if w.met[k] == 0 {
			t.Errorf("no %s fault met the client", kindNames[k])
		}
	}
	if refreshes.Load() == 0 {
		t.Error("no background refresh")
	}
	if heap[3] > heap[1]+heap[1]/10 {
		t.Errorf("heap grew from %d B at half time to %d B at the end (more than 10 %%): %s", heap[1], heap[3], heapString(heap))
	}
}

// The classes of requests whose latencies the soak compares.
const (
	classQuiet   = iota // no background refresh, no outage
	classRefresh        // started during a background refresh, no outage
	classOutage         // overlapped an outage window
	classCount
)

// heapAfterGC returns the live heap after a garbage collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func heapString(h [4]uint64) string {
	parts := make([]string, len(h))
	for i, v := range h {
		parts[i] = fmt.Sprintf("%.2f MiB", float64(v)/(1<<20))
	}
	return strings.Join(parts, ", ")
}

// percentiles returns the 50th and 99th percentiles of ds and its
// largest value (0 for none).
func percentiles(ds []uint32) (p50, p99, top uint32) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)*99/100, len(s)-1)], s[len(s)-1]
}

func us(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

func ratio(a, b uint32) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// resource is authtest's protected resource behind counters: requests,
// requests without a token, challenges it answered, and how many times
// each request (by its seqHeader) reached it.
type resource struct {
	next                          http.Handler
	requests, noToken, challenged atomic.Int64
	claims, expired               atomic.Int64 // challenges: insufficient_claims, invalid_token for an expired token
	lateMu                        sync.Mutex
	late                          time.Duration // the most an expired token came after its exp
	hits                          []atomic.Int32
}

func newResource(next http.Handler, n int) *resource {
	return &resource{next: next, hits: make([]atomic.Int32, n)}
}

func (r *resource) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if req.Header.Get("Authorization") == "" {
		r.noToken.Add(1)
	}
	if i, err := strconv.Atoi(req.Header.Get(seqHeader)); err == nil && i >= 0 && i < len(r.hits) {
		r.hits[i].Add(1)
	}
	cw := &challengeWatcher{ResponseWriter: w}
	r.next.ServeHTTP(cw, req)
	switch {
	case cw.claims:
		r.claims.Add(1)
		r.challenged.Add(1)
	case cw.invalid:
		if strings.Contains(cw.Header().Get("WWW-Authenticate"), "expired") {
			r.expired.Add(1)
			r.noteLate(req.Header.Get("Authorization"))
		}
		r.challenged.Add(1)
	}
}

// noteLate notes how long after its exp an expired token came (its
// payload is read without checks: the resource verified it).
func (r *resource) noteLate(authorization string) {
	_, tok, _ := strings.Cut(authorization, " ")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return
	}
	var claims struct{ Exp int64 }
	if json.Unmarshal(b, &claims) != nil {
		return
	}
	late := time.Since(time.Unix(claims.Exp, 0))
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	r.late = max(r.late, late)
}

func (r *resource) lateBy() time.Duration {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	return r.late.Round(time.Millisecond)
}

// histogram returns how many requests reached the resource 0, 1, 2 and
// more times.
func (r *resource) histogram() [4]int {
	var h [4]int
	for i := range r.hits {
		h[min(int(r.hits[i].Load()), 3)]++
	}
	return h
}

// challengeWatcher notes a 401 with a Bearer challenge the transport acts
// upon.
type challengeWatcher struct {
	http.ResponseWriter
	claims, invalid bool
}

func (c *challengeWatcher) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		h := c.Header().Get("WWW-Authenticate")
		c.claims = strings.Contains(h, `error="insufficient_claims"`)
		c.invalid = strings.Contains(h, `error="invalid_token"`)
	}
	c.ResponseWriter.WriteHeader(code)
}

// The kinds of fault the soak injects at the token endpoint.
const (
	kind503 = iota
	kindDrop
	kindSlow
	kindCount
)

var (
	kindNames  = [kindCount]string{"503", "dropped connection", "slow answer"}
	kindFaults = [kindCount]authtest.Fault{
		{Status: http.StatusServiceUnavailable, RetryAfter: "1"},
		{Drop: true},
		{Delay: slowAnswer},
	}
)

// authorityWire watches every attempt the application makes to the
// authority. Between token requests (no attempt under way or with its
// answer unread, none waiting to retry, no background refresh that may
// not have cached its token yet) it revokes the application's tokens
// every revokeEvery and injects the next burst of faults, so that no
// token request meets more than one burst (faultBurst faults, which its
// retries absorb), and every token minted before a revocation is cached
// or discarded by the time it happens: a token minted after it passes,
// so each sender meets the revocation once at most. It also tells the outages apart: an outage window opens
// when a token request starts while faults are waiting for it, and
// closes when no token request is under way or waiting to retry.
type authorityWire struct {
	srv  *authtest.Server
	base http.RoundTripper
	// refreshing reports whether a background refresh is under way: one
	// that has its answer may not have cached its token yet.
	refreshing func() bool

	// outageOpen and outages (windows opened and closed) are read by the
	// senders without the lock.
	outageOpen atomic.Bool
	outages    atomic.Int64

	mu            sync.Mutex
	inFlight      int
	retrying      map[string]time.Time // client-request-id → when its last attempt failed
	tokenRequests int
	tokenOK       int
	revocations   int
	revokedAt     time.Time
	injected, met [kindCount]int
	current       int // the kind of the last burst
	left          int // its faults not met yet
	injectedAt    time.Time
}

type wireFigures struct {
	tokenRequests, tokenOK, revocations int
	injected, met                       [kindCount]int
}

func newAuthorityWire(srv *authtest.Server) *authorityWire {
	return &authorityWire{srv: srv, retrying: map[string]time.Time{}, current: kindCount - 1}
}

func (w *authorityWire) RoundTrip(req *http.Request) (*http.Response, error) {
	id := req.Header.Get("client-request-id")
	token := strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token")
	w.mu.Lock()
	w.inFlight++
	delete(w.retrying, id)
	if token {
		w.tokenRequests++
		if w.left > 0 && !w.outageOpen.Load() {
			w.outageOpen.Store(true)
			w.outages.Add(1)
		}
	}
	w.mu.Unlock()

	t0 := time.Now()
	resp, err := w.base.RoundTrip(req)
	d := time.Since(t0)

	w.mu.Lock()
	defer w.mu.Unlock()
	faulted := func(kind int) {
		w.met[kind]++
		w.left = max(w.left-1, 0)
	}
	switch {
	case err != nil:
		faulted(kindDrop)
		w.retrying[id] = time.Now()
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
		faulted(kind503)
		w.retrying[id] = time.Now()
	case token && resp.StatusCode == http.StatusOK:
		w.tokenOK++
		if w.current == kindSlow && w.left > 0 && d >= slowAnswer {
			faulted(kindSlow) // a delayed answer takes at least slowAnswer
		}
	}
	if err != nil {
		w.endLocked()
		return nil, err
	}
	// The attempt ends when its answer has been read and closed: a token
	// is in the client's cache a moment later, not before the answer
	// came.
	resp.Body = &bodyCloser{ReadCloser: resp.Body, closed: func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.endLocked()
	}}
	return resp, nil
}

// endLocked ends an attempt, and the outage window when the wire is
// quiet. w.mu must be held.
func (w *authorityWire) endLocked() {
	w.inFlight--
	if w.outageOpen.Load() && w.quiet() {
		w.outageOpen.Store(false)
		w.outages.Add(1)
	}
}

// bodyCloser calls closed once, when the body is closed.
type bodyCloser struct {
	io.ReadCloser
	once   sync.Once
	closed func()
}

func (b *bodyCloser) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.closed)
	return err
}

// outage returns whether an outage window is open and how many have
// opened or closed.
func (w *authorityWire) outage() (bool, int64) {
	return w.outageOpen.Load(), w.outages.Load()
}

// quiet reports whether no attempt is under way and no token request
// waits to retry. w.mu must be held.
func (w *authorityWire) quiet() bool {
	for id, at := range w.retrying {
		if time.Since(at) > time.Minute { // a token request that gave up
			delete(w.retrying, id)
		}
	}
	return w.inFlight == 0 && len(w.retrying) == 0
}

// control revokes the application's tokens when revokeEvery has passed
// since the last revocation, and starts the next burst of faults when
// faultEvery has passed and the last burst was met (or waited
// staleBurstAfter: it is dropped), both only while the wire is quiet.
// No attempt can start while w.mu is held, so none meets a fault of the
// old burst and then one of the new, and the token a revocation revokes
// is the cached one.
func (w *authorityWire) control(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.quiet() || w.refreshing() {
		return
	}
	if w.revokedAt.IsZero() {
		w.revokedAt = now
	}
	if now.Sub(w.revokedAt) >= revokeEvery {
		w.srv.Revoke(clientID)
		w.revocations++
		w.revokedAt = now
	}
	if now.Sub(w.injectedAt) < faultEvery || (w.left > 0 && now.Sub(w.injectedAt) < staleBurstAfter) {
		return
	}
	w.srv.ClearFaults()
	w.current = (w.current + 1) % kindCount
	w.srv.InjectFaults(faultBurst, kindFaults[w.current])
	w.injected[w.current] += faultBurst
	w.left = faultBurst
	w.injectedAt = now
}

func (w *authorityWire) snapshot() wireFigures {
	w.mu.Lock()
	defer w.mu.Unlock()
	return wireFigures{tokenRequests: w.tokenRequests, tokenOK: w.tokenOK, revocations: w.revocations, injected: w.injected, met: w.met}
}
