package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/bearerhttp/bearer"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// P6 of BENCHMARKS.md: the latency of requests while the app token is
// refreshed. The authority (the stub) takes 100 ms to answer a token
// request (Entra takes about that or more; 20 ms would be lost in a loaded
// machine's noise) and issues tokens living 40 s with refresh_in 20 s
// (long enough for azcore's 30 s between eager refreshes to let it
// refresh early, as it would with hour-long tokens). Each contender gets its first token, then GETs to a loopback HTTPS resource
// fall due at a fixed rate for the run's duration, sent by a pool of
// goroutines. Each request's latency (from when it was due) is recorded,
// and whether a token request was in flight at the authority at any
// moment of it.
//
//   - bearer: Transport{Source: app.ClientSource()}: past refresh_in, the
//     first caller starts a refresh in the background and every caller is
//     served the cached token;
//   - oauth2: x/oauth2's clientcredentials behind oauth2.Transport: it
//     ignores refresh_in and treats a token as expired 10 s before its
//     expiry, then fetches under a lock that every caller waits on;
//   - azcore: BearerTokenPolicy over a credential that asks the authority
//     on each call (as azidentity's credentials do when their cache holds
//     nothing fresh), with refresh_in as RefreshOn: past it, the caller
//     that finds the token due fetches a new one while others are served
//     the old; an expired token blocks every caller; an eager refresh is
//     tried at most once in 30 s.
//
// It is a measurement, run by cmd/benchreport: the test runs only when
// COMPARE_P6_OUT names the JSON file to write.

// refreshConfig is P6's setting.
type refreshConfig struct {
	Rate           int           `json:"rate"`    // requests due per second
	Workers        int           `json:"workers"` // goroutines sending them
	Duration       time.Duration `json:"duration_ns"`
	Warmup         time.Duration `json:"warmup_ns"` // load before the measured run, its samples dropped
	Bucket         time.Duration `json:"bucket_ns"`
	TokenLifetime  time.Duration `json:"token_lifetime_ns"`
	RefreshIn      time.Duration `json:"refresh_in_ns"`
	AuthorityDelay time.Duration `json:"authority_delay_ns"`
}

// latencyStats are percentiles of a set of request latencies.
type latencyStats struct {
	N   int           `json:"n"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// refreshBucket is one time bucket of a run: the requests that started in
// it.
type refreshBucket struct {
	Start      time.Duration `json:"start_ns"`
	Refreshing int           `json:"refreshing"` // requests with a token request in flight
	latencyStats
}

// refreshRun is one contender's run.
type refreshRun struct {
	Name          string          `json:"name"`
	TokenRequests int64           `json:"token_requests"` // during the run, the first token excluded
	All           latencyStats    `json:"all"`
	During        latencyStats    `json:"during_refresh"`
	Outside       latencyStats    `json:"outside_refresh"`
	Buckets       []refreshBucket `json:"buckets"`
}

// refreshReport is the file COMPARE_P6_OUT names.
type refreshReport struct {
	Config refreshConfig `json:"config"`
	Runs   []refreshRun  `json:"runs"`
}

// sample is one request: when it started (since the run's start), how
// long it took, and whether a token request was in flight meanwhile.
type sample struct {
	at, took   time.Duration
	refreshing bool
}

// stats sorts took and returns its percentiles.
func stats(took []time.Duration) latencyStats {
	if len(took) == 0 {
		return latencyStats{}
	}
	slices.Sort(took)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(took))+0.5) - 1
		return took[max(0, min(i, len(took)-1))]
	}
	return latencyStats{N: len(took), P50: at(0.50), P99: at(0.99), Max: took[len(took)-1]}
}

// summarize turns a run's samples into its statistics.
func summarize(name string, samples []sample, cfg refreshConfig, tokens int64) refreshRun {
	run := refreshRun{Name: name, TokenRequests: tokens}
	var all, during, outside []time.Duration
	buckets := make([][]sample, int(cfg.Duration/cfg.Bucket)+1)
	for _, s := range samples {
		all = append(all, s.took)
		if s.refreshing {
			during = append(during, s.took)
		} else {
			outside = append(outside, s.took)
		}
		if i := int(s.at / cfg.Bucket); i < len(buckets) {
			buckets[i] = append(buckets[i], s)
		}
	}
	run.All, run.During, run.Outside = stats(all), stats(during), stats(outside)
	for i, b := range buckets {
		if len(b) == 0 {
			continue
		}
		took := make([]time.Duration, len(b))
		rb := refreshBucket{Start: time.Duration(i) * cfg.Bucket}
		for j, s := range b {
			took[j] = s.took
			if s.refreshing {
				rb.Refreshing++
			}
		}
		rb.latencyStats = stats(took)
		run.Buckets = append(run.Buckets, rb)
	}
	return run
}

// tokenCredential is an azcore.TokenCredential getting app tokens from a
// token endpoint on every call, with refresh_in as RefreshOn.
type tokenCredential struct {
	client   *http.Client
	tokenURL string
}

// GetToken implements azcore.TokenCredential.
func (c tokenCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {lookupClientID}, "client_secret": {lookupSecret}, "scope": {strings.Join(o.Scopes, " ")}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return azcore.AccessToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	now := time.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		RefreshIn   int64  `json:"refresh_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return azcore.AccessToken{}, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return azcore.AccessToken{}, fmt.Errorf("token response: status %d", resp.StatusCode)
	}
	at := azcore.AccessToken{Token: body.AccessToken, ExpiresOn: now.Add(time.Duration(body.ExpiresIn) * time.Second)}
	if body.RefreshIn > 0 {
		at.RefreshOn = now.Add(time.Duration(body.RefreshIn) * time.Second)
	}
	return at, nil
}

// refreshContender sends one GET to url and reads the answer.
type refreshContender func(ctx context.Context, url string) error

// newRefreshContender builds the named contender against the stub,
// sending to the resource through base.
func newRefreshContender(tb testing.TB, name string, st *stubEntra, base *http.Transport) refreshContender {
	tb.Helper()
	authority := "https://login.microsoftonline.com/" + lookupTenant(0)
	tokenURL := authority + "/oauth2/v2.0/token"
	do := func(rt http.RoundTripper) refreshContender {
		return func(ctx context.Context, url string) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
	}
	switch name {
	case "bearer":
		return do(&bearer.Transport{Source: newBearer(tb, authority, st.client).ClientSource(), Scopes: graphScopes, Base: base})
	case "oauth2":
		cc := &clientcredentials.Config{ClientID: lookupClientID, ClientSecret: lookupSecret, TokenURL: tokenURL, Scopes: graphScopes}
		return do(&oauth2.Transport{Source: cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, st.client)), Base: base})
	case "azcore":
		pl := runtime.NewPipeline("compare", "v0.0.0",
			runtime.PipelineOptions{PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(tokenCredential{st.client, tokenURL}, graphScopes, nil)}},
			&policy.ClientOptions{Transport: &http.Client{Transport: base}, Retry: policy.RetryOptions{MaxRetries: -1}})
		return func(ctx context.Context, url string) error {
			req, err := runtime.NewRequest(ctx, http.MethodGet, url)
			if err != nil {
				return err
			}
			resp, err := pl.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close() // azcore has read it
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
	}
	tb.Fatalf("no contender %q", name)
	return nil
}

// measureRefresh runs one contender for cfg.Duration and returns its
// samples and the token requests made after its first token.
//
// The load is open: requests are due at a fixed rate whatever the
// answers, and a pool of workers sends them; each latency runs from the
// moment the request was due. (A closed loop, each worker sending its
// next request when its last is answered, would send fewer requests
// while callers are blocked and so hide the blocking.)
func measureRefresh(tb testing.TB, name string, cfg refreshConfig) ([]sample, int64) {
	tb.Helper()
	st := newStubEntra(tb)
	st.delay, st.lifetime, st.refreshIn = cfg.AuthorityDelay, cfg.TokenLifetime, cfg.RefreshIn
	w := newWorld(tb)
	res := w.tls(tb, hotResource())
	base := w.base.Clone()
	base.MaxIdleConnsPerHost = cfg.Workers
	tb.Cleanup(base.CloseIdleConnections)
	send := newRefreshContender(tb, name, st, base)
	url := res.url("graph.microsoft.com", "/v1.0/users")
	ctx := context.Background()
	if err := send(ctx, url); err != nil { // the first token
		tb.Fatal(err)
	}
	// A connection per worker, opened before the clock starts.
	warm := make(chan error, cfg.Workers)
	for range cfg.Workers {
		go func() { warm <- send(ctx, url) }()
	}
	for range cfg.Workers {
		if err := <-warm; err != nil {
			tb.Fatal(err)
		}
	}
	first := st.tokens.Load()

	type job struct {
		due  time.Time
		from flight // the authority's token requests when it was due
	}
	jobs := make(chan job, 1<<16)
	per := make([][]sample, cfg.Workers)
	errs := make(chan error, cfg.Workers)
	start := time.Now()
	measured := start.Add(cfg.Warmup) // samples due before are dropped
	total := cfg.Warmup + cfg.Duration
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		wg.Go(func() {
			var out []sample
			for j := range jobs {
				err := send(ctx, url)
				took := time.Since(j.due)
				if err != nil {
					errs <- err
					break
				}
				if !j.due.Before(measured) {
					out = append(out, sample{at: j.due.Sub(measured), took: took, refreshing: during(j.from, st.now())})
				}
			}
			per[i] = out
		})
	}
	interval := time.Second / time.Duration(cfg.Rate)
	for i := 0; ; {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= total {
			break
		}
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the load, not synchronisation
		}
		// Every request due by now goes out.
		for now := time.Now(); !due.After(now) && due.Sub(start) < total; due = start.Add(time.Duration(i) * interval) {
			jobs <- job{due: due, from: st.now()}
			i++
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("%s: %v", name, err)
	}
	return slices.Concat(per...), st.tokens.Load() - first
}

// TestMeasureRefreshLatency is P6. It runs only when COMPARE_P6_OUT is
// set (cmd/benchreport sets it), and writes its report there as JSON.
// COMPARE_P6_DURATION (a time.Duration) overrides the run's length.
func TestMeasureRefreshLatency(t *testing.T) {
	out := os.Getenv("COMPARE_P6_OUT")
	if out == "" {
		t.Skip("a measurement: set COMPARE_P6_OUT to the JSON file to write (cmd/benchreport does)")
	}
	cfg := refreshConfig{
		Rate:           2000,
		Workers:        64,
		Warmup:         time.Second,
		Duration:       35 * time.Second,
		Bucket:         250 * time.Millisecond,
		TokenLifetime:  40 * time.Second,
		RefreshIn:      20 * time.Second,
		AuthorityDelay: 100 * time.Millisecond,
	}
	if d := os.Getenv("COMPARE_P6_DURATION"); d != "" {
		var err error
		if cfg.Duration, err = time.ParseDuration(d); err != nil {
			t.Fatal(err)
		}
	}
	rep := refreshReport{Config: cfg}
	for _, name := range []string{"bearer", "oauth2", "azcore"} {
		samples, tokens := measureRefresh(t, name, cfg)
		run := summarize(name, samples, cfg, tokens)
		t.Logf("%s: %d requests, %d token requests; p99 %v during refresh (%d requests), %v outside",
			name, run.All.N, tokens, run.During.P99, run.During.N, run.Outside.P99)
		rep.Runs = append(rep.Runs, run)
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshStats checks the percentiles and buckets P6 reports.
func TestRefreshStats(t *testing.T) {
	ms := time.Millisecond
	took := make([]time.Duration, 100)
	for i := range took {
		took[i] = time.Duration(100-i) * ms // 100 ms down to 1 ms
	}
	got := stats(took)
	if want := (latencyStats{N: 100, P50: 50 * ms, P99: 99 * ms, Max: 100 * ms}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if got := stats(nil); got != (latencyStats{}) {
		t.Errorf("stats(nil) = %+v, want zero", got)
	}
	cfg := refreshConfig{Duration: time.Second, Bucket: 500 * ms}
	run := summarize("x", []sample{
		{at: 0, took: ms},
		{at: 100 * ms, took: 3 * ms, refreshing: true},
		{at: 600 * ms, took: 2 * ms},
	}, cfg, 1)
	if run.During.N != 1 || run.During.P99 != 3*ms || run.Outside.N != 2 || run.Outside.P99 != 2*ms || run.All.N != 3 {
		t.Errorf("during %+v, outside %+v, all %+v", run.During, run.Outside, run.All)
	}
	if len(run.Buckets) != 2 || run.Buckets[0].Refreshing != 1 || run.Buckets[0].N != 2 || run.Buckets[1].Start != 500*ms || run.Buckets[1].P50 != 2*ms {
		t.Errorf("buckets %+v", run.Buckets)
	}
}

// TestDuringRefresh checks how a request is classed from the authority's
// token request counts before and after it.
func TestDuringRefresh(t *testing.T) {
	for _, tt := range []struct {
		name     string
		from, to flight
		want     bool
	}{
		{"none before or after", flight{2, 2}, flight{2, 2}, false},
		{"one in flight at the start", flight{3, 2}, flight{3, 3}, true},
		{"one started and ended meanwhile", flight{2, 2}, flight{3, 3}, true},
		{"one started meanwhile", flight{2, 2}, flight{3, 2}, true},
	} {
		if got := during(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: during = %v, want %v", tt.name, got, tt.want)
		}
	}
}
