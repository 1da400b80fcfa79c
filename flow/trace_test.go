package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// traceLog records what a Trace is told: one line per hook call, the
// full arguments (for the secrets check) and the errors.
type traceLog struct {
	mu    sync.Mutex
	lines []string
	full  []string
	errs  []error
	done  chan RefreshDoneInfo // every RefreshDone, when not nil
}

func (l *traceLog) add(line string, arg any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.full = append(l.full, fmt.Sprintf("%#v", arg))
	if err != nil {
		l.errs = append(l.errs, err)
	}
}

// take returns the lines recorded since the last take.
func (l *traceLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// trace returns a Trace recording into l.
func (l *traceLog) trace() *Trace {
	return &Trace{
		AcquireStart: func(ctx context.Context, info AcquireInfo) context.Context {
			l.add(fmt.Sprintf("start %s %v tenant=%q claims=%v force=%v", info.Kind, info.Scopes, info.Tenant, info.Claims, info.ForceRefresh), info, nil)
			return nil
		},
		AcquireDone: func(ctx context.Context, info AcquireDoneInfo) {
			if info.Duration < 0 {
				l.add("negative duration", info, nil)
			}
			l.add(fmt.Sprintf("done %s %s %d err=%v", info.Kind, info.Outcome, info.StatusCode, info.Err != nil), info, info.Err)
		},
		RefreshStart: func(ctx context.Context, info RefreshInfo) context.Context {
			l.add(fmt.Sprintf("refresh_start %s %v tenant=%q due=%s", info.Kind, info.Scopes, info.Tenant, info.RefreshOn.Format(time.TimeOnly)), info, nil)
			return nil
		},
		RefreshDone: func(ctx context.Context, info RefreshDoneInfo) {
			l.add(fmt.Sprintf("refresh_done %s %s %d err=%v", info.Kind, info.Outcome, info.StatusCode, info.Err != nil), info, info.Err)
			if l.done != nil {
				l.done <- info
			}
		},
	}
}

// holdsNone fails t if any hook was given one of secrets.
func (l *traceLog) holdsNone(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.full {
		for _, secret := range secrets {
			if secret != "" && strings.Contains(s, secret) {
				t.Errorf("a hook was given a secret: %s", s)
			}
		}
	}
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestTraceClientCredentials checks each outcome of a client-credentials
// acquisition, with the authority's status: a fetch, a cache hit, a
// claims request and a forced refresh (which skip the cache), an
// authority's error; and none for a call refused for its arguments.
func TestTraceClientCredentials(t *testing.T) {
	var log traceLog
	srv, app := newDaemon(t, WithTrace(log.trace()))
	scopes := []string{graphDefault}
	const gs = "[https://graph.microsoft.com/.default]"
	first, err := app.AcquireTokenForClient(bg(), scopes)
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, log.take(), []string{
		`start client_credentials ` + gs + ` tenant="" claims=false force=false`,
		`done client_credentials fetched 200 err=false`})

	if _, err := app.AcquireTokenForClient(bg(), scopes); err != nil {
		t.Fatal(err)
	}
	checkLines(t, log.take(), []string{
		`start client_credentials ` + gs + ` tenant="" claims=false force=false`,
		`done client_credentials cache_hit 0 err=false`})

	claimed, err := app.AcquireTokenForClient(bg(), scopes, Claims(`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	forced, err := app.AcquireTokenForClient(bg(), scopes, ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	checkLines(t, log.take(), []string{
		`start client_credentials ` + gs + ` tenant="" claims=true force=false`,
		`done client_credentials fetched 200 err=false`,
		`start client_credentials ` + gs + ` tenant="" claims=false force=true`,
		`done client_credentials fetched 200 err=false`})

	srv.InjectFaults(1, authtest.Fault{Status: 400, Error: "invalid_scope", ErrorCodes: []int{70011}})
	_, err = app.AcquireTokenForClient(bg(), scopes, ForceRefresh(), Tenant("fabrikam.com"))
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != 400 {
		t.Fatalf("error %v, want the injected 400", err)
	}
	if _, err := app.AcquireTokenForClient(bg(), nil); !errors.Is(err, ErrNoScopes) {
		t.Fatalf("error %v, want ErrNoScopes", err)
	}
	// A call refused for its arguments is not an acquisition: no events.
	checkLines(t, log.take(), []string{
		`start client_credentials ` + gs + ` tenant="fabrikam.com" claims=false force=true`,
		`done client_credentials failed 400 err=true`})
	if len(log.errs) != 1 || !errors.As(log.errs[0], &fe) || fe.Code != "invalid_scope" {
		t.Errorf("AcquireDone got the errors %v, want the authority's", log.errs)
	}
	log.holdsNone(t, daemonSecret, first.AccessToken, claimed.AccessToken, forced.AccessToken, "nbf")
}

// TestTraceCoalesced: of concurrent identical acquisitions, one fetches
// and the others share its token, each told so, with the status of the
// one request.
func TestTraceCoalesced(t *testing.T) {
	var log traceLog
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	g := newGate(srv.Transport())
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(client(g)), WithTrace(log.trace()))
	const n = 8
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "every caller to wait on one flight", func() bool { return app.waiters() == n })
	g.Open()
	wg.Wait()
	count := map[string]int{}
	for _, l := range log.take() {
		count[l]++
	}
	want := map[string]int{
		`start client_credentials [https://graph.microsoft.com/.default] tenant="" claims=false force=false`: n,
		`done client_credentials fetched 200 err=false`:                                                      1,
		`done client_credentials coalesced 200 err=false`:                                                    n - 1,
	}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("events %v, want %v", count, want)
	}
	if got := srv.TokenRequests(); got != 1 {
		t.Errorf("%d token requests, want 1", got)
	}
}

// TestTraceBackgroundRefresh: a token past its RefreshOn is a cache hit,
// and the refresh it starts is reported from its own goroutine: one that
// gets a new token, then one the authority fails.
func TestTraceBackgroundRefresh(t *testing.T) {
	log := traceLog{done: make(chan RefreshDoneInfo, 4)}
	srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(4*time.Hour)) // refresh_in: 2 h
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(srv.Client()), WithClock(srv.Now), WithTrace(log.trace()), WithRetryPolicy(RetryPolicy{Sleep: (&sleeps{}).sleep}))
	// RefreshDone comes just before the refresh's flight ends: a call
	// made meanwhile would start no refresh. The test waits for the end.
	ended := refreshes(app.app)
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	if _, err := src.Token(bg(), req); err != nil {
		t.Fatal(err)
	}
	log.take()

	srv.Advance(2 * time.Hour)
	if _, err := src.Token(bg(), req); err != nil {
		t.Fatal(err)
	}
	if info := recv(t, log.done); info.Err != nil || info.Duration < 0 {
		t.Fatalf("refresh: %+v", info)
	}
	recv(t, ended)
	due := t0.Add(2 * time.Hour).Format(time.TimeOnly)
	// The refresh runs in its own goroutine: its events and the cache
	// hit's interleave in any order; each goes in its own order.
	var acquisition, refresh []string
	for _, l := range log.take() {
		if strings.HasPrefix(l, "refresh_") {
			refresh = append(refresh, l)
		} else {
			acquisition = append(acquisition, l)
		}
	}
	checkLines(t, acquisition, []string{
		`start client_credentials [https://graph.microsoft.com/.default] tenant="" claims=false force=false`,
		`done client_credentials cache_hit 0 err=false`})
	checkLines(t, refresh, []string{
		`refresh_start client_credentials [https://graph.microsoft.com/.default] tenant="" due=` + due,
		`refresh_done client_credentials fetched 200 err=false`})

	srv.Advance(2 * time.Hour)
	srv.InjectFaults(1, authtest.Fault{Status: 503})
	srv.InjectFaults(1, authtest.Fault{Status: 400, Error: "invalid_request"})
	if _, err := src.Token(bg(), req); err != nil {
		t.Fatal(err)
	}
	info := recv(t, log.done)
	var fe *Error
	if info.Outcome != OutcomeFailed || info.StatusCode != 400 || !errors.As(info.Err, &fe) || fe.Code != "invalid_request" {
		t.Errorf("failed refresh: %+v, want failed with the authority's 400 (after a retried 503)", info)
	}
	log.holdsNone(t, daemonSecret)
}

// TestTraceThroughTransport: behind bearer.Transport, a revocation (CAE)
// is one cache hit, then one acquisition with claims that fetches.
func TestTraceThroughTransport(t *testing.T) {
	var log traceLog
	srv, app := newDaemon(t, WithCapabilities("cp1"), WithTrace(log.trace()))
	hc := &http.Client{Transport: &bearer.Transport{Source: app.ClientSource(), Scopes: []string{graphDefault}, Base: srv.Transport()}}
	get := func() {
		t.Helper()
		resp, err := hc.Get("https://graph.microsoft.com/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()
	srv.Revoke(daemonID)
	get()
	get()
	const start = `start client_credentials [https://graph.microsoft.com/.default] tenant="" `
	checkLines(t, log.take(), []string{
		start + `claims=false force=false`, `done client_credentials fetched 200 err=false`,
		start + `claims=false force=false`, `done client_credentials cache_hit 0 err=false`,
		start + `claims=true force=false`, `done client_credentials fetched 200 err=false`,
		start + `claims=false force=false`, `done client_credentials cache_hit 0 err=false`})
}

// TestTraceOnBehalfOf: on-behalf-of acquisitions are told apart, and no
// hook sees the user's assertion.
func TestTraceOnBehalfOf(t *testing.T) {
	var log traceLog
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t, WithTrace(log.trace()))
	alice := m.assertion(aliceName)
	var tokens []string
	for range 2 {
		r, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, r.AccessToken, r.IDToken)
	}
	const start = `start on_behalf_of [` + downstreamAPI + `/read] tenant="" claims=false force=false`
	checkLines(t, log.take(), []string{start, `done on_behalf_of fetched 200 err=false`, start, `done on_behalf_of cache_hit 0 err=false`})
	log.holdsNone(t, append(tokens, alice, middleSecret, aliceName)...)
}

// TestTraceManagedIdentity: a managed identity's acquisitions, by
// resource, a source's error status included.
func TestTraceManagedIdentity(t *testing.T) {
	var log traceLog
	srv := newMIServer(t, false)
	m := mustMI(t, append(miOptions(t, srv, authtest.AppService, nil, nil), WithTrace(log.trace()))...)
	r, err := m.AcquireToken(bg(), graphAud+"/.default")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AcquireToken(bg(), graphAud); err != nil {
		t.Fatal(err)
	}
	srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointAppService, Status: 400, Error: "invalid_resource"})
	if _, err := m.AcquireToken(bg(), graphAud, ForceRefresh()); err == nil {
		t.Fatal("the injected fault did not fail the call")
	}
	const start = `start managed_identity [` + graphAud + `] tenant="" claims=false force=`
	checkLines(t, log.take(), []string{
		start + `false`, `done managed_identity fetched 200 err=false`,
		start + `false`, `done managed_identity cache_hit 0 err=false`,
		start + `true`, `done managed_identity failed 400 err=true`})
	log.holdsNone(t, r.AccessToken, srv.ManagedIdentityEnv(authtest.AppService)["IDENTITY_HEADER"])
}

// ctxKey marks the context an AcquireStart hook returned.
type ctxKey struct{}

// TestWithTraceComposes: WithTrace given twice tells both traces, in
// order; the context AcquireStart returns is the one the requests to the
// authority are made with, and AcquireDone's.
func TestWithTraceComposes(t *testing.T) {
	var mu sync.Mutex
	var events []string
	add := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, s)
	}
	traceNamed := func(name string) *Trace {
		return &Trace{
			AcquireStart: func(ctx context.Context, _ AcquireInfo) context.Context {
				add(name + " start")
				return context.WithValue(ctx, ctxKey{}, name)
			},
			AcquireDone: func(ctx context.Context, info AcquireDoneInfo) {
				add(fmt.Sprintf("%s done %s span=%v", name, info.Outcome, ctx.Value(ctxKey{})))
			},
		}
	}
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	base := srv.Transport()
	seen := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		add(fmt.Sprintf("authority request span=%v", r.Context().Value(ctxKey{})))
		return base.RoundTrip(r)
	})
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(client(seen)), WithTrace(traceNamed("a")), WithTrace(nil), WithTrace(traceNamed("b")))
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatal(err)
	}
	want := []string{"a start", "b start", "authority request span=b", "a done fetched span=b", "b done fetched span=b"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
}

// TestTraceCachedPathAllocations: a Trace costs a cached token no
// allocation (its hooks here allocate nothing), nor does its absence.
func TestTraceCachedPathAllocations(t *testing.T) {
	var calls int
	tr := &Trace{
		AcquireStart: func(ctx context.Context, _ AcquireInfo) context.Context { calls++; return ctx },
		AcquireDone:  func(context.Context, AcquireDoneInfo) { calls++ },
	}
	allocs := func(opts ...Option) float64 {
		srv := authtest.NewTLSServer(t)
		srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
		app := mustConfidential(t, daemonID, credential.Secret(daemonSecret), append([]Option{WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client())}, opts...)...)
		src := app.ClientSource()
		req := bearer.TokenRequest{Scopes: []string{graphDefault}}
		if _, err := src.Token(bg(), req); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() {
			if _, err := src.Token(bg(), req); err != nil {
				t.Fatal(err)
			}
		})
	}
	plain, traced := allocs(), allocs(WithTrace(tr))
	if traced != plain {
		t.Errorf("allocations per cached token: %v without a trace, %v with one", plain, traced)
	}
	if calls == 0 {
		t.Error("the hooks were not called")
	}
}

// BenchmarkClientSourceCachedTraced is BenchmarkClientSourceCached with
// AcquireStart and AcquireDone hooks that do nothing.
func BenchmarkClientSourceCachedTraced(b *testing.B) {
	srv := authtest.NewTLSServer(b)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	app := mustConfidential(b, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()),
		WithTrace(&Trace{
			AcquireStart: func(ctx context.Context, _ AcquireInfo) context.Context { return ctx },
			AcquireDone:  func(context.Context, AcquireDoneInfo) {},
		}))
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	if _, err := src.Token(bg(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(bg(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTraceDPoP: a DPoP application's acquisition reports the status of
// the token request that issued its token (200, after the authority's
// 400 use_dpop_nonce), and its transport the resource's nonce challenge
// and the resend.
func TestTraceDPoP(t *testing.T) {
	var log traceLog
	srv := newDPoPServer(t)
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	app := dpopApp(t, srv, WithDPoP(p256(t)), WithTrace(log.trace()))
	var mu sync.Mutex
	var transport []string
	c := resourceClient(srv, app.ClientSource())
	c.Transport.(*bearer.Transport).Trace = &bearer.TransportTrace{
		Challenge: func(_ context.Context, info bearer.ChallengeInfo) {
			mu.Lock()
			defer mu.Unlock()
			transport = append(transport, "challenge "+string(info.Kind))
		},
		Resend: func(_ context.Context, info bearer.ResendInfo) {
			mu.Lock()
			defer mu.Unlock()
			transport = append(transport, fmt.Sprintf("resend %s %d", info.Kind, info.Resend))
		},
	}
	if s := getStatus(t, c, srv.URL+"/resource/orders"); s != 200 {
		t.Fatalf("status %d", s)
	}
	got := log.take()
	if len(got) != 2 || got[1] != "done client_credentials fetched 200 err=false" {
		t.Errorf("acquisition events %q, want one fetch with status 200", got)
	}
	if want := []string{"challenge use_dpop_nonce", "resend use_dpop_nonce 1"}; !reflect.DeepEqual(transport, want) {
		t.Errorf("transport events %q, want %q", transport, want)
	}
}

// TestTraceUserFlows: a web app's sign-in (authorization code), silent
// calls (a cache hit, a forced one through the refresh token), a refresh
// token redeemed, a password refused and one that signs in; each with
// its kind, outcome and the authority's status, and no hook given a
// token, a code or a password.
func TestTraceUserFlows(t *testing.T) {
	var log traceLog
	srv := userServer(t)
	app := webApp(t, srv, "contoso.com", WithTrace(log.trace()))
	scopes := []string{"User.Read"}
	signedIn := userSignIn(t, srv, app, webRedirect, aliceUser, scopes)
	if _, err := app.AcquireTokenSilent(bg(), scopes, signedIn.Account); err != nil {
		t.Fatal(err)
	}
	forced, err := app.AcquireTokenSilent(bg(), scopes, signedIn.Account, ForceRefresh())
	if err != nil {
		t.Fatal(err)
	}
	rt := cachedRefreshToken(app.cache, webID, signedIn.Account.Environment, signedIn.Account.HomeAccountID)
	if _, err := app.AcquireTokenByRefreshToken(bg(), rt, scopes); err != nil {
		t.Fatal(err)
	}
	if _, err := app.AcquireTokenSilent(bg(), scopes, Account{}); !errors.Is(err, ErrInteractionRequired) {
		t.Fatalf("silent without an account: %v", err)
	}
	pub := publicApp(t, srv, "contoso.com", WithTrace(log.trace()))
	if _, err := pub.AcquireTokenByUsernamePassword(bg(), aliceUser, "wrong-"+alicePass, scopes); err == nil {
		t.Fatal("a wrong password signed in")
	}
	if _, err := pub.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, scopes, Tenant("contoso.com")); err != nil {
		t.Fatal(err)
	}
	const ur = `[User.Read] tenant=""`
	checkLines(t, log.take(), []string{
		`start authorization_code ` + ur + ` claims=false force=false`, `done authorization_code fetched 200 err=false`,
		`start silent ` + ur + ` claims=false force=false`, `done silent cache_hit 0 err=false`,
		`start silent ` + ur + ` claims=false force=true`, `done silent fetched 200 err=false`,
		`start refresh_token ` + ur + ` claims=false force=false`, `done refresh_token fetched 200 err=false`,
		`start silent ` + ur + ` claims=false force=false`, `done silent failed 0 err=true`,
		`start username_password ` + ur + ` claims=false force=false`, `done username_password failed 400 err=true`,
		`start username_password [User.Read] tenant="contoso.com" claims=false force=false`, `done username_password fetched 200 err=false`,
	})
	log.holdsNone(t, signedIn.AccessToken, signedIn.IDToken, forced.AccessToken, rt, alicePass, webSecret)
}
