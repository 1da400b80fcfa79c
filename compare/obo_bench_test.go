package compare

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	ourcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/flow"
)

// stubEntra is a loopback HTTPS server answering for
// login.microsoftonline.com with Entra's instance discovery, OpenID
// configuration and token responses, and a client that sends every host to
// it. It checks nothing and signs nothing: BenchmarkCompareOBOCacheGrowth
// measures the clients' caches over tens of thousands of callers, and
// authtest, which signs every assertion and token it issues, would make
// the authority's cost the larger part of the run.
type stubEntra struct {
	client *http.Client
	tokens atomic.Int64 // token requests answered
	// delay, when set before the first request, holds each token answer
	// back that long: an authority slower than loopback.
	delay time.Duration
	// lifetime and refreshIn, when set before the first request, are the
	// tokens' expires_in (default an hour) and refresh_in (none by
	// default).
	lifetime, refreshIn time.Duration
	// inflight counts token requests started and finished, for callers
	// that ask whether a token request was in flight (see flight).
	started, finished atomic.Int64
}

// flight is the count of token requests started and finished at one
// moment; compare two to learn whether one was in flight in between.
type flight struct{ started, finished int64 }

// now is the stub's token request counts at this moment.
func (st *stubEntra) now() flight {
	f := flight{finished: st.finished.Load()}
	f.started = st.started.Load()
	return f
}

// during reports whether a token request was in flight at some moment
// between from and to (two readings of now): one was running at from, or
// one started before to.
func during(from, to flight) bool {
	return from.started > from.finished || to.started > from.started
}

// stubConns is the most connections a client of the stub opens.
const stubConns = 256

func newStubEntra(tb testing.TB) *stubEntra {
	tb.Helper()
	w := newWorld(tb)
	st := &stubEntra{}
	srv := w.tls(tb, http.HandlerFunc(st.serve))
	addr := srv.Listener.Addr().String()
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: worldPool},
		// Thousands of concurrent token requests (BenchmarkCompareColdStart)
		// would otherwise open a connection each, two descriptors apiece
		// in this one process.
		MaxConnsPerHost:     stubConns,
		MaxIdleConnsPerHost: stubConns,
	}
	tb.Cleanup(tr.CloseIdleConnections)
	st.client = &http.Client{Transport: tr}
	return st
}

// serve answers instance discovery, any tenant's OpenID configuration,
// and any token request with a fresh access and refresh token for
// oboScopes.
func (st *stubEntra) serve(w http.ResponseWriter, r *http.Request) {
	const host = "https://login.microsoftonline.com"
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	tenant, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/common/discovery/instance":
		enc.Encode(map[string]any{
			"tenant_discovery_endpoint": host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{
				"preferred_network": "login.microsoftonline.com",
				"preferred_cache":   "login.windows.net",
				"aliases":           []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"},
			}},
		})
	case strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration"):
		enc.Encode(map[string]string{
			"authorization_endpoint": host + "/" + tenant + "/oauth2/v2.0/authorize",
			"token_endpoint":         host + "/" + tenant + "/oauth2/v2.0/token",
			"issuer":                 host + "/" + tenant + "/v2.0",
		})
	case strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		st.started.Add(1)
		defer st.finished.Add(1)
		if st.delay > 0 {
			time.Sleep(st.delay) // the authority's own time to answer, not synchronisation
		}
		n := st.tokens.Add(1)
		life := int64(3600)
		if st.lifetime > 0 {
			life = int64(st.lifetime / time.Second)
		}
		resp := map[string]any{
			"token_type": "Bearer", "access_token": fmt.Sprintf("at-%d", n),
			"expires_in": life, "ext_expires_in": life,
		}
		if st.refreshIn > 0 {
			resp["refresh_in"] = int64(st.refreshIn / time.Second)
		}
		if r.FormValue("grant_type") == "client_credentials" {
			resp["scope"] = strings.Join(graphScopes, " ")
		} else {
			resp["refresh_token"] = fmt.Sprintf("rt-%d", n)
			resp["scope"] = strings.Join(oboScopes, " ")
		}
		enc.Encode(resp)
	default:
		http.NotFound(w, r)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// eachCaller runs acquire once per benchmark iteration, each time for a
// new caller's assertion, then stops the timer and reports the heap still
// in use per caller (the stub's idle connections closed first).
func (st *stubEntra) eachCaller(b *testing.B, acquire func(assertion string) error) {
	before, i := heapInUse(), 0
	for b.Loop() {
		if err := acquire(callerAssertion(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	st.client.CloseIdleConnections()
	after := heapInUse()
	b.ReportMetric(float64(int64(after)-int64(before))/float64(i), "retained-B/caller")
}

// callerAssertion is caller i's assertion: an unsigned JWT (the stub
// checks nothing) in the canonical spelling bearer requires.
func callerAssertion(i int) string {
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"sub":"caller-%d"}`, i)) + "."
}

// BenchmarkCompareOBOCacheGrowth: each operation is an on-behalf-of token
// for a new caller. It reports the entries each cache holds at the end
// (MSAL Go: access and refresh tokens; bearer: the same, capped by
// WithMaxEntries(10000)) and the heap still in use per caller. Run it with
// a count of callers, e.g. -benchtime=50000x.
func BenchmarkCompareOBOCacheGrowth(b *testing.B) {
	const limit = 10_000
	authority := "https://login.microsoftonline.com/" + lookupTenant(0)
	ctx := context.Background()
	b.Run("MSALGo", func(b *testing.B) {
		st := newStubEntra(b)
		w := &watchMSAL{}
		app := newMSAL(b, authority, st.client, confidential.WithCache(w))
		st.eachCaller(b, func(assertion string) error {
			_, err := app.AcquireTokenOnBehalfOf(ctx, assertion, oboScopes)
			return err
		})
		_, all := w.entries(b)
		b.ReportMetric(float64(all), "entries")
		runtime.KeepAlive(app)
	})
	b.Run("bearer", func(b *testing.B) {
		st := newStubEntra(b)
		c := ourcache.New(ourcache.WithMaxEntries(limit))
		app := newBearer(b, authority, st.client, flow.WithCache(c))
		st.eachCaller(b, func(assertion string) error {
			_, err := app.AcquireTokenOnBehalfOf(ctx, assertion, oboScopes)
			return err
		})
		entries := c.Stats().Entries
		if entries > limit {
			b.Fatalf("bearer's cache holds %d entries, over its cap of %d", entries, limit)
		}
		b.ReportMetric(float64(entries), "entries")
		runtime.KeepAlive(app)
	})
}
