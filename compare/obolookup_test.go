package compare

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	ourcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/flow"
)

// P3 of BENCHMARKS.md, on-behalf-of: a middle tier holding a Graph token
// for each of n callers looks one up per request (callers in turn).

// oboSecretOf is the access token cached for caller i in bearer's cache.
func oboSecretOf(i int) string { return fmt.Sprintf("obo-%d", i) }

// filledOBOCache returns bearer's cache holding an on-behalf-of token for
// each of n callers (callerAssertion(i)), expiring in two hours.
func filledOBOCache(tb testing.TB, n int, now time.Time) *ourcache.Cache {
	tb.Helper()
	c := ourcache.New(ourcache.WithMaxEntries(2*n + 10))
	ctx := context.Background()
	for i := range n {
		err := c.StoreResponse(ctx, ourcache.Response{
			Environment:       lookupHost,
			Realm:             lookupTenant(0),
			ClientID:          lookupClientID,
			UserAssertionHash: ourcache.AssertionHash(callerAssertion(i)),
			Scopes:            oboScopes,
			AccessToken:       oboSecretOf(i),
			ExpiresOn:         now.Add(2 * time.Hour),
		}, now)
		if err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// fillMSALOBO gets an on-behalf-of token for each of n callers from the
// stub through MSAL Go (its cache takes them only from a token
// response), on a few goroutines at once.
func fillMSALOBO(tb testing.TB, app confidential.Client, n int) {
	tb.Helper()
	const workers = 8
	ctx := context.Background()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if _, err := app.AcquireTokenOnBehalfOf(ctx, callerAssertion(i), oboScopes); err != nil {
					errs <- fmt.Errorf("caller %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// BenchmarkCompareOBOLookup is one on-behalf-of token served from the
// cache among n callers' tokens, for MSAL Go (AcquireTokenOnBehalfOf,
// its cache filled through the stub authority) and bearer
// (AcquireTokenOnBehalfOf, its cache filled through StoreResponse). It
// fails if a lookup asks the authority.
func BenchmarkCompareOBOLookup(b *testing.B) {
	authority := "https://" + lookupHost + "/" + lookupTenant(0)
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			st := newStubEntra(b)
			msal := newMSAL(b, authority, st.client)
			fillMSALOBO(b, msal, n)
			ours := newBearer(b, authority, st.client, flow.WithCache(filledOBOCache(b, n, time.Now())))
			// The assertions are made beforehand: their cost is the
			// caller's, not the cache's.
			callers := make([]string, n)
			for i := range callers {
				callers[i] = callerAssertion(i)
			}
			for _, side := range []string{"MSALGo", "bearer"} {
				b.Run(side, func(b *testing.B) {
					lookup := func(ctx context.Context, i int) (string, error) {
						res, err := ours.AcquireTokenOnBehalfOf(ctx, callers[i], oboScopes)
						if err == nil && res.AccessToken != oboSecretOf(i) {
							err = fmt.Errorf("got token %q", res.AccessToken)
						}
						return res.AccessToken, err
					}
					if side == "MSALGo" {
						lookup = func(ctx context.Context, i int) (string, error) {
							res, err := msal.AcquireTokenOnBehalfOf(ctx, callers[i], oboScopes)
							return res.AccessToken, err
						}
					}
					ctx := context.Background()
					before := st.tokens.Load()
					i := 0
					b.ReportAllocs()
					for b.Loop() {
						if _, err := lookup(ctx, i); err != nil {
							b.Fatalf("caller %d: %v", i, err)
						}
						if i++; i == n {
							i = 0
						}
					}
					b.StopTimer()
					if r := st.tokens.Load() - before; r != 0 {
						b.Fatalf("%d token requests: not every lookup was a cache hit", r)
					}
				})
			}
		})
	}
}
