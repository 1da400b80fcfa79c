package compare

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// P2 of BENCHMARKS.md: a service starts, and n goroutines each send a
// request needing the same app token at once, with nothing cached. Each
// contender's token requests are counted at the authority:
//
//   - bearer: bearer.Transport{Source: app.ClientSource()};
//   - oauth2: x/oauth2's clientcredentials.Config.TokenSource (a
//     ReuseTokenSource) behind oauth2.Transport;
//   - MSALGo: MSAL Go's documented pattern, a silent lookup then a token
//     request on a miss. For a confidential client's app token in v1.10.1
//     that is AcquireTokenByCredential itself (it reads the cache first;
//     AcquireTokenSilent requires an account), then the header set on a
//     clone of the request.
//
// Every base is the no-op RoundTripper: the time is the token's.

// coldSender is one contender on a cold cache: send sends the request
// once (from any goroutine).
type coldSender func(req *http.Request) error

// coldContenders returns the contenders, each with a cold cache, getting
// tokens from authority (a tenant's authority URL) through client.
func coldContenders(tb testing.TB, authority string, client *http.Client) []struct {
	name string
	send coldSender
} {
	tb.Helper()
	nop := nopBase{}
	ours := &bearer.Transport{Source: newBearer(tb, authority, client).ClientSource(), Scopes: graphScopes, Base: nop}
	cc := &clientcredentials.Config{ClientID: lookupClientID, ClientSecret: lookupSecret, TokenURL: authority + "/oauth2/v2.0/token", Scopes: graphScopes}
	theirs := &oauth2.Transport{Source: cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, client)), Base: nop}
	msal := newMSAL(tb, authority, client)
	roundTrip := func(rt http.RoundTripper) coldSender {
		return func(req *http.Request) error {
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}
	}
	return []struct {
		name string
		send coldSender
	}{
		{"bearer", roundTrip(ours)},
		{"oauth2", roundTrip(theirs)},
		{"MSALGo", func(req *http.Request) error {
			res, err := msal.AcquireTokenByCredential(req.Context(), graphScopes)
			if err != nil {
				return err
			}
			r2 := req.Clone(req.Context())
			r2.Header.Set("Authorization", "Bearer "+res.AccessToken)
			resp, err := nop.RoundTrip(r2)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
	}
}

// coldStart starts n goroutines, lets them all send at once and returns
// the time from the start until the last is done, and the first error.
func coldStart(n int, send coldSender) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, "https://graph.microsoft.com/v1.0/users", nil)
	if err != nil {
		return 0, err
	}
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			errs <- send(req)
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	for err := range errs {
		if err != nil {
			return elapsed, err
		}
	}
	return elapsed, nil
}

// TestCompareColdStartOneTokenRequest: 1,000 goroutines (the race
// detector allows about 8,000 at once; the benchmark runs 10,000) ask
// for the same app token on a cold cache through bearer.Transport with
// ClientSource: authtest receives exactly one token request. So it does
// from x/oauth2's ReuseTokenSource, which holds a lock while it fetches.
// MSAL Go's count is not fixed (it depends on timing) and is left to
// BenchmarkCompareColdStart.
func TestCompareColdStartOneTokenRequest(t *testing.T) {
	const n = 1000
	for _, want := range []string{"bearer", "oauth2"} {
		t.Run(want, func(t *testing.T) {
			srv := newAuthority(t)
			for _, c := range coldContenders(t, srv.Authority(lookupTenant(0)), srv.Client()) {
				if c.name != want {
					continue
				}
				if _, err := coldStart(n, c.send); err != nil {
					t.Fatal(err)
				}
			}
			if got := srv.TokenRequests(); got != 1 {
				t.Errorf("%d goroutines on a cold cache made %d token requests, want 1", n, got)
			}
		})
	}
}

// BenchmarkCompareColdStart is P2: each operation is 10,000 goroutines
// sending at once through a new contender (a cold cache), timed from
// their start to the last one done. The authority (the stub) takes 20 ms
// to answer a token request. It reports the token requests the authority
// answered per operation.
func BenchmarkCompareColdStart(b *testing.B) {
	const n = 10_000
	for _, name := range []string{"bearer", "oauth2", "MSALGo"} {
		b.Run(name, func(b *testing.B) {
			st := newStubEntra(b)
			st.delay = 20 * time.Millisecond
			authority := "https://login.microsoftonline.com/" + lookupTenant(0)
			ops := 0
			for b.Loop() {
				b.StopTimer()
				var send coldSender
				for _, c := range coldContenders(b, authority, st.client) {
					if c.name == name {
						send = c.send
					}
				}
				b.StartTimer()
				if _, err := coldStart(n, send); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			b.ReportMetric(float64(st.tokens.Load())/float64(ops), "token-requests/op")
			b.ReportMetric(n, "goroutines")
		})
	}
}
