package compare

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	ourcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/flow"
)

// A multi-tenant daemon: one application holding an app token (client
// credentials) for each of n tenants, looked up per tenant. MSAL Go keeps
// every app token of a client in one map and scans it on each lookup
// (storage.Manager.readAccessToken); bearer's cache hashes (client,
// tenant) to the token's bucket.

const (
	lookupClientID = "11111111-aaaa-4bbb-8ccc-000000000001"
	lookupSecret   = "lookup-secret"
	lookupHost     = "login.microsoftonline.com"
)

var graphScopes = []string{"https://graph.microsoft.com/.default"}

// lookupTenant is the i-th tenant of the daemon, GUID-shaped and lower
// case (MSAL Go lower-cases the authority, tenant included).
func lookupTenant(i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
}

// lookupSecretOf is the access token cached for tenant i.
func lookupSecretOf(i int) string { return fmt.Sprintf("at-%d", i) }

// filledCache returns bearer's cache holding one app token per tenant for
// n tenants, expiring in two hours.
func filledCache(tb testing.TB, n int, now time.Time) *ourcache.Cache {
	tb.Helper()
	c := ourcache.New(ourcache.WithMaxEntries(2 * n))
	ctx := context.Background()
	for i := range n {
		err := c.StoreResponse(ctx, ourcache.Response{
			Environment: lookupHost,
			Realm:       lookupTenant(i),
			ClientID:    lookupClientID,
			Scopes:      graphScopes,
			AccessToken: lookupSecretOf(i),
			ExpiresOn:   now.Add(2 * time.Hour),
		}, now)
		if err != nil {
			tb.Fatal(err)
		}
	}
	if got := c.Stats().Entries; got != n {
		tb.Fatalf("bearer's cache holds %d entries, want %d", got, n)
	}
	return c
}

// loadOnce is an MSAL Go cache accessor that loads an MSAL cache document
// into MSAL Go's in-memory cache at the first Replace, then leaves the
// in-memory cache alone: lookups measure MSAL Go's in-memory search only,
// not a persistent store.
type loadOnce struct {
	mu   sync.Mutex
	data []byte
	err  error
}

// Replace implements cache.ExportReplace.
func (l *loadOnce) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.data != nil {
		l.err = u.Unmarshal(l.data)
		l.data = nil
	}
	return l.err
}

// Export implements cache.ExportReplace; nothing is persisted.
func (l *loadOnce) Export(context.Context, cache.Marshaler, cache.ExportHints) error { return nil }

// lookupApps are the two applications of the lookup comparison, each with n
// tenants' app tokens in its cache, and the authority they would call on a
// miss.
type lookupApps struct {
	srv  *authtest.Server
	msal confidential.Client
	ours *flow.Confidential
}

// newLookupApps fills both caches with the same n app tokens: bearer's
// through StoreResponse, MSAL Go's from bearer's MarshalMSAL output.
func newLookupApps(tb testing.TB, n int) *lookupApps {
	return newLookupAppsOf(tb, n, true)
}

// newLookupAppsOf is newLookupApps with MSAL Go's side left out (nil)
// unless withMSAL is set: a million tenants' document would take
// gigabytes.
func newLookupAppsOf(tb testing.TB, n int, withMSAL bool) *lookupApps {
	tb.Helper()
	srv := newAuthority(tb)
	now := time.Now()
	c := filledCache(tb, n, now)
	authority := "https://" + lookupHost + "/" + lookupTenant(0)
	a := &lookupApps{srv: srv, ours: newBearer(tb, authority, srv.Client(), flow.WithCache(c))}
	if withMSAL {
		doc, err := c.MarshalMSAL()
		if err != nil {
			tb.Fatal(err)
		}
		a.msal = newMSAL(tb, authority, srv.Client(), confidential.WithCache(&loadOnce{data: doc}))
	}
	return a
}

// msalLookup is MSAL Go's silent lookup of tenant i's app token:
// AcquireTokenByCredential serves it from the cache when it can.
func (a *lookupApps) msalLookup(ctx context.Context, i int) (string, error) {
	res, err := a.msal.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(lookupTenant(i)))
	return res.AccessToken, err
}

// oursLookup is bearer's: AcquireTokenForClient, cache first.
func (a *lookupApps) oursLookup(ctx context.Context, i int) (string, error) {
	res, err := a.ours.AcquireTokenForClient(ctx, graphScopes, flow.Tenant(lookupTenant(i)))
	return res.AccessToken, err
}

// sourceLookup is bearer's through the app's ClientSource, the tenant
// in the request, as bearer.Transport asks for it.
func (a *lookupApps) sourceLookup(ctx context.Context, i int) (string, error) {
	tok, err := a.ours.ClientSource().Token(ctx, bearer.TokenRequest{Scopes: graphScopes, TenantID: lookupTenant(i)})
	return tok.AccessToken, err
}

// TestCompareCacheLookupServesEachTenant checks what the lookup benchmarks
// measure: with n tenants' tokens loaded, both libraries serve each
// tenant's own token from their cache, without a token request. (Speed is
// left to BenchmarkCompareCacheLookup: a test does not time.)
func TestCompareCacheLookupServesEachTenant(t *testing.T) {
	const n = 500
	a := newLookupApps(t, n)
	ctx := context.Background()
	for _, side := range []struct {
		name   string
		lookup func(context.Context, int) (string, error)
	}{{"MSAL Go", a.msalLookup}, {"bearer", a.oursLookup}} {
		t.Run(side.name, func(t *testing.T) {
			for _, i := range []int{0, 1, n / 2, n - 1} {
				got, err := side.lookup(ctx, i)
				if err != nil {
					t.Fatalf("tenant %d: %v", i, err)
				}
				if want := lookupSecretOf(i); got != want {
					t.Errorf("tenant %d: got token %q, want %q", i, got, want)
				}
			}
		})
	}
	if n := a.srv.TokenRequests(); n != 0 {
		t.Errorf("%d token requests, want 0 (every lookup is a cache hit)", n)
	}
}

// lookupSizes are the tenant counts of BenchmarkCompareCacheLookup
// (P3), and whether MSAL Go runs at that size: its lookup scans every
// app token (7 ms per lookup among 100,000), and loading a million
// tenants' MSAL document would take gigabytes.
var lookupSizes = []struct {
	n    int
	msal bool
}{{10, true}, {10_000, true}, {100_000, true}, {1_000_000, false}}

// BenchmarkCompareCacheLookup is one silent lookup (a cache hit) of an app
// token among n tenants' app tokens, for MSAL Go and bearer (through
// AcquireTokenForClient with Tenant, and through ClientSource with
// TokenRequest.TenantID). Tenants are visited in turn.
func BenchmarkCompareCacheLookup(b *testing.B) {
	for _, size := range lookupSizes {
		n := size.n
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			a := newLookupAppsOf(b, n, size.msal) // once for all sides
			for _, side := range []string{"MSALGo", "bearer", "bearer-source"} {
				if side == "MSALGo" && !size.msal {
					continue
				}
				b.Run(side, func(b *testing.B) {
					lookup := a.oursLookup
					switch side {
					case "MSALGo":
						lookup = a.msalLookup
					case "bearer-source":
						lookup = a.sourceLookup
					}
					ctx := context.Background()
					if _, err := lookup(ctx, 0); err != nil { // instance discovery for MSAL Go
						b.Fatal(err)
					}
					i := 0
					b.ReportAllocs()
					for b.Loop() {
						tok, err := lookup(ctx, i)
						if err != nil || tok != lookupSecretOf(i) {
							b.Fatalf("tenant %d: %q, %v", i, tok, err)
						}
						if i++; i == n {
							i = 0
						}
					}
					b.StopTimer()
					if r := a.srv.TokenRequests(); r != 0 {
						b.Fatalf("%d token requests: not every lookup was a cache hit", r)
					}
				})
			}
		})
	}
}
