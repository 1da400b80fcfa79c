package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchPopulation is a cache holding n user access tokens (one identity
// each, as many partitions), built once per size.
type benchPopulation struct {
	c           *Cache
	homes       []string
	bytesPerTok float64
}

var (
	benchMu   sync.Mutex
	benchPops = map[int]*benchPopulation{}
)

var benchScopes = []string{"https://graph.microsoft.com/User.Read", "https://graph.microsoft.com/Mail.Read"}

func population(b *testing.B, n int) *benchPopulation {
	benchMu.Lock()
	defer benchMu.Unlock()
	if p := benchPops[n]; p != nil {
		return p
	}
	b.StopTimer()
	defer b.StartTimer()
	p := &benchPopulation{homes: make([]string, n)}
	for i := range p.homes {
		// Home account IDs as Entra makes them: "<object ID>.<tenant ID>".
		p.homes[i] = fmt.Sprintf("%08x-6c67-4c5b-b112-36a304b66dad.9188040d-6c67-4c5b-b112-36a304b66dad", i)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p.c = New(WithMaxEntries(0))
	// One token string shared by all entries: the figure is the cache's own
	// cost per token (entry, index slots, copies of the IDs and scopes), the
	// token's bytes come on top.
	r := Response{Environment: "login.microsoftonline.com", Realm: "9188040d-6c67-4c5b-b112-36a304b66dad", ClientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		Scopes: benchScopes, AccessToken: "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig", ExpiresOn: t0.Add(24 * time.Hour)}
	for _, h := range p.homes {
		r.HomeAccountID = h
		if err := p.c.StoreResponse(context.Background(), r, t0); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// The identities' strings were made before: what grew is the cache.
	p.bytesPerTok = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	benchPops[n] = p
	return p
}

func benchQuery(home string) AccessTokenQuery {
	return AccessTokenQuery{
		Environment: "login.windows.net", Realm: "9188040d-6c67-4c5b-b112-36a304b66dad", ClientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		HomeAccountID: home, Scopes: benchScopes[1:], CaseInsensitiveScopes: true,
	}
}

var benchSizes = []struct {
	name string
	n    int
}{{"10", 10}, {"10k", 10_000}, {"1M", 1_000_000}}

// BenchmarkLookup looks up access tokens in caches of 10, 10k and 1M
// tokens with the same workload: lookups cycle over 10 identities spread
// evenly over the cache, so the figures compare what the cache's size
// costs a lookup. B/token is the heap each cached token costs beyond the
// token itself.
func BenchmarkLookup(b *testing.B) { benchLookup(b, 10) }

// BenchmarkLookupActive1k is BenchmarkLookup with 1024 active identities
// (all 10 at entries=10): a working set of active users that no longer fits
// the CPU's caches and TLB when spread over 1M entries.
func BenchmarkLookupActive1k(b *testing.B) { benchLookup(b, 1024) }

func benchLookup(b *testing.B, active int) {
	for _, size := range benchSizes {
		b.Run("entries="+size.name, func(b *testing.B) {
			p := population(b, size.n)
			active := min(size.n, active)
			qs := make([]AccessTokenQuery, active)
			for i := range qs {
				qs[i] = benchQuery(p.homes[i*(size.n/active)])
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, ok := p.c.AccessToken(ctx, qs[i%active], t0); !ok {
					b.Fatal("miss")
				}
			}
			b.ReportMetric(p.bytesPerTok, "B/token")
		})
	}
}

// BenchmarkLookupUniform looks up identities drawn uniformly from the
// whole cache: at 1M entries most lookups miss the CPU caches, so this
// measures the memory system as much as the index.
func BenchmarkLookupUniform(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("entries="+size.name, func(b *testing.B) {
			p := population(b, size.n)
			order := rand.Perm(size.n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, ok := p.c.AccessToken(ctx, benchQuery(p.homes[order[i%size.n]]), t0); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkLookupParallel looks up from every P at once in a 10k cache,
// each goroutine cycling over its own 1024 identities (spread over all
// shards), so it measures lock contention between lookups.
func BenchmarkLookupParallel(b *testing.B) {
	p := population(b, 10_000)
	qs := make([]AccessTokenQuery, len(p.homes))
	for i, h := range p.homes {
		qs[i] = benchQuery(h)
	}
	ctx := context.Background()
	var seq sync.Mutex
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		seq.Lock()
		start := next * 1024
		next++
		seq.Unlock()
		for i := 0; pb.Next(); i++ {
			if _, ok := p.c.AccessToken(ctx, qs[(start+i%1024)%len(qs)], t0); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkStoreResponse writes on-behalf-of responses of ever new users
// into a cache capped at 100k entries (so most writes also evict).
func BenchmarkStoreResponse(b *testing.B) {
	c := New(WithMaxEntries(100_000))
	r := Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "api", Scopes: benchScopes, AccessToken: "tok", ExpiresOn: t0.Add(time.Hour)}
	hashes := make([]string, 1<<16)
	for i := range hashes {
		hashes[i] = AssertionHash(fmt.Sprint("assertion-", i))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.UserAssertionHash = hashes[i%len(hashes)] + strconv.Itoa(i>>16)
		if err := c.StoreResponse(ctx, r, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteThroughLargeDocument writes a token into a stored partition
// that holds 5,000 access tokens of other apps and a 1 MiB unknown section
// (2.3 MB): the whole document is decoded, checked and written back.
func BenchmarkWriteThroughLargeDocument(b *testing.B) {
	doc := largeDoc(5000, 1<<20)
	ctx := context.Background()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		mem := NewMemoryStore()
		if err := mem.Update(ctx, storedUser, func([]byte) ([]byte, error) { return doc, nil }); err != nil {
			b.Fatal(err)
		}
		if err := New(WithStore(mem)).StoreResponse(ctx, bearerWrite(), t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeDocument decodes the same 2.3 MB document.
func BenchmarkDecodeDocument(b *testing.B) {
	doc := largeDoc(5000, 1<<20)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeDocument(doc); err != nil {
			b.Fatal(err)
		}
	}
}
