package redisstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/internal/redistest"
)

// A realistic client-credentials access token's size: Entra's are JWTs
// of 1.5 to 2.5 KB.
var benchToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + strings.Repeat("A", 1500) + ".sig"

func benchResponse(tenant string) cache.Response {
	return cache.Response{
		Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		Scopes: []string{"https://graph.microsoft.com/.default"}, AccessToken: benchToken, ExpiresOn: t0.Add(24 * time.Hour),
	}
}

func benchQuery(tenant string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		Scopes: []string{"https://graph.microsoft.com/.default"}, CaseInsensitiveScopes: true}
}

// BenchmarkHit is a cached token served from memory by a cache with no
// store, and by caches in front of each store: the store must cost a hit
// nothing (within 1.1x of memory alone).
func BenchmarkHit(b *testing.B) {
	stores := map[string]func(b *testing.B) cache.Store{
		"memory": func(*testing.B) cache.Store { return nil },
		"file": func(b *testing.B) cache.Store {
			s, err := filestore.New(filepath.Join(b.TempDir(), "cache.json"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"redis": func(b *testing.B) cache.Store { return redisstore.New(redistest.Start(b).Client(), "bench:") },
	}
	for _, name := range []string{"memory", "file", "redis"} {
		b.Run(name, func(b *testing.B) {
			var opts []cache.Option
			if s := stores[name](b); s != nil {
				opts = append(opts, cache.WithStore(s))
			}
			c := cache.New(opts...)
			ctx := context.Background()
			if err := c.StoreResponse(ctx, benchResponse("tenant"), t0); err != nil {
				b.Fatal(err)
			}
			q := benchQuery("tenant")
			if _, ok := c.AccessToken(ctx, q, t0); !ok {
				b.Fatal("miss")
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.AccessToken(ctx, q, t0); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkReadThroughRedis is a miss that reads the partition from Redis
// (a token another process stored): each lookup finds memory without the
// partition (a cache of one entry, visiting two partitions in turn) and
// reads it from Redis.
func BenchmarkReadThroughRedis(b *testing.B) {
	ctx := context.Background()
	rc := redistest.Start(b).Client()
	writer := cache.New(cache.WithStore(redisstore.New(rc, "bench:")))
	tenants := []string{"tenant-a", "tenant-b"}
	for _, tenant := range tenants {
		if err := writer.StoreResponse(ctx, benchResponse(tenant), t0); err != nil {
			b.Fatal(err)
		}
	}
	c := cache.New(cache.WithStore(redisstore.New(rc, "bench:")), cache.WithMaxEntries(1))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := c.AccessToken(ctx, benchQuery(tenants[i%2]), t0); !ok {
			b.Fatal("miss after reading through")
		}
		i++
	}
}

// BenchmarkBytesPerToken reports what one cached app token costs in
// Redis (the key's MEMORY USAGE and the stored document's length) and in
// memory (Stats.Bytes per entry), for a token of 1.5 KB, and for 100
// tokens of one app in one partition (one per tenant it works in, as a
// multi-tenant daemon keeps them: 100 partitions) .
func BenchmarkBytesPerToken(b *testing.B) {
	ctx := context.Background()
	rc := redistest.Start(b).Client()
	s := redisstore.New(rc, "bench:")
	c := cache.New(cache.WithStore(s))
	const n = 100
	for i := range n {
		if err := c.StoreResponse(ctx, benchResponse(fmt.Sprintf("tenant-%03d", i)), t0); err != nil {
			b.Fatal(err)
		}
	}
	var usage, doc int64
	for i := range n {
		key := s.Key(cache.AppPartition("04b07795-8ddb-461a-bbee-02f9e1bf7b46", fmt.Sprintf("tenant-%03d", i)))
		u, err := rc.MemoryUsage(ctx, key).Result()
		if err != nil {
			b.Fatal(err)
		}
		l, err := rc.StrLen(ctx, key).Result()
		if err != nil {
			b.Fatal(err)
		}
		usage += u
		doc += l
	}
	for b.Loop() {
		// The figures are computed once; the loop only satisfies the
		// benchmark's contract.
	}
	b.ReportMetric(float64(usage)/n, "redis-bytes/token")
	b.ReportMetric(float64(doc)/n, "doc-bytes/token")
	b.ReportMetric(float64(c.Stats().Bytes)/float64(c.Stats().Entries), "memory-bytes/token")
	b.ReportMetric(float64(len(benchToken)), "token-bytes")
}
