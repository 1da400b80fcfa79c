package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/cache/storetest"
	"github.com/bearerhttp/bearer/internal/redistest"
)

var t0 = time.Unix(1_700_000_000, 0)

// prefixes numbers the key prefixes of the tests.
var prefixes atomic.Int64

func newStore(t *testing.T, opts ...redisstore.Option) (*redisstore.Store, *redis.Client) {
	t.Helper()
	srv := redistest.Start(t)
	c := srv.Client()
	return redisstore.New(c, fmt.Sprintf("test%d:", prefixes.Add(1)), opts...), c
}

func TestRedisStoreKeepsTheStoreContract(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	storetest.Run(t, func(t *testing.T) cache.Store {
		return redisstore.New(c, fmt.Sprintf("contract%d:", prefixes.Add(1)))
	})
}

func appResponse(tenant, secret string, scopes ...string) cache.Response {
	return cache.Response{
		Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "client",
		Scopes: scopes, AccessToken: secret, ExpiresOn: t0.Add(time.Hour),
	}
}

func appQuery(tenant string, scopes ...string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: tenant, ClientID: "client", Scopes: scopes, CaseInsensitiveScopes: true}
}

func TestOneKeyPerPartitionWithAHashTag(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	cc := cache.New(cache.WithStore(s))
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if err := cc.StoreResponse(ctx, appResponse(tenant, "secret-"+tenant, "api://x/.default"), t0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		p := cache.AppPartition("client", tenant)
		key := s.Key(p)
		if !strings.HasSuffix(key, "{"+p+"}") {
			t.Errorf("key %q does not end with the partition's hash tag", key)
		}
		v, err := c.Get(ctx, key).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", key, err)
		}
		if !bytes.Contains(v, []byte("secret-"+tenant)) || bytes.Contains(v, []byte("secret-tenant-"+map[string]string{"tenant-a": "b", "tenant-b": "a"}[tenant])) {
			t.Errorf("key %s holds %s", key, v)
		}
	}
	// Another process (another cache on the same Redis) reads them through.
	other := cache.New(cache.WithStore(redisstore.New(c, strings.TrimSuffix(s.Key(""), "{}"))))
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if at, ok := other.AccessToken(ctx, appQuery(tenant, "api://x/.default"), t0); !ok || at.Secret != "secret-"+tenant {
			t.Errorf("another cache on the same Redis: %v, %v", at, ok)
		}
	}
	names, err := s.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{cache.AppPartition("client", "tenant-a"), cache.AppPartition("client", "tenant-b")}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("Partitions = %q, want %q", names, want)
	}
}

func TestPartitionsListsItsPrefixOnly(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	c := srv.Client()
	mine := redisstore.New(c, "app[1]*:")
	theirs := redisstore.New(c, "app[1]x:")
	for i, s := range []*redisstore.Store{mine, theirs} {
		if err := s.Update(ctx, storetest.Partition(i+1), func([]byte) ([]byte, error) { return storetest.Document(i+1, 1), nil }); err != nil {
			t.Fatal(err)
		}
	}
	l, err := mine.Lease(ctx, storetest.Partition(1), "k", time.Minute)
	if err != nil || l == nil {
		t.Fatalf("Lease = %v, %v", l, err)
	}
	names, err := mine.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != storetest.Partition(1) {
		t.Errorf("Partitions = %q, want only %q (a lease is not a partition; another prefix is not listed)", names, storetest.Partition(1))
	}
}

func TestTTLIsSetByEveryWrite(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []redisstore.Option
		want time.Duration // -1: no expiry
	}{
		{"default", nil, redisstore.DefaultTTL},
		{"one hour", []redisstore.Option{redisstore.WithTTL(time.Hour)}, time.Hour},
		{"none", []redisstore.Option{redisstore.WithTTL(0)}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStore(t, tc.opts...)
			p := storetest.Partition(1)
			write := func(n int) {
				t.Helper()
				if err := s.Update(ctx, p, func([]byte) ([]byte, error) { return storetest.Document(1, n), nil }); err != nil {
					t.Fatal(err)
				}
			}
			check := func() {
				t.Helper()
				ttl, err := c.TTL(ctx, s.Key(p)).Result()
				if err != nil {
					t.Fatal(err)
				}
				if tc.want == -1 {
					if ttl != -1 {
						t.Errorf("TTL %v, want none", ttl)
					}
					return
				}
				if ttl > tc.want || ttl < tc.want-time.Minute {
					t.Errorf("TTL %v, want %v", ttl, tc.want)
				}
			}
			write(1)
			check()
			// Shortened by someone else, the TTL is set again by the next write.
			if err := c.Expire(ctx, s.Key(p), time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			write(2)
			check()
		})
	}
}

// TestUpdateRunsAgainAfterAConflict makes another writer change the key
// while the update function runs: the transaction fails, and the function
// runs again on the other writer's document.
func TestUpdateRunsAgainAfterAConflict(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	p := storetest.Partition(1)
	if err := s.Update(ctx, p, func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil }); err != nil {
		t.Fatal(err)
	}
	var seen []int
	err := s.Update(ctx, p, func(old []byte) ([]byte, error) {
		n := storetest.Counter(t, old)
		seen = append(seen, n)
		if len(seen) == 1 {
			// Another writer gets in between the read and the write.
			if err := c.Set(ctx, s.Key(p), storetest.Document(1, 10), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		return storetest.Document(1, n+1), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[1 10]" {
		t.Errorf("the function saw counters %v, want [1 10]: it must run again on the other writer's document", seen)
	}
	if n := storetest.Counter(t, mustLoad(t, s, p)); n != 11 {
		t.Errorf("counter %d, want 11", n)
	}
}

func mustLoad(t *testing.T, s cache.Store, p string) []byte {
	t.Helper()
	b, err := s.Load(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUpdateGivesUpAfterEndlessConflicts(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	p := storetest.Partition(1)
	runs := 0
	err := s.Update(ctx, p, func(old []byte) ([]byte, error) {
		runs++
		if err := c.Set(ctx, s.Key(p), storetest.Document(1, runs), 0).Err(); err != nil {
			t.Fatal(err)
		}
		return storetest.Document(1, 0), nil
	})
	if !errors.Is(err, redisstore.ErrConflict) {
		t.Fatalf("Update = %v, want ErrConflict", err)
	}
	if runs != 100 {
		t.Errorf("the function ran %d times, want 100", runs)
	}
}

// logRecorder is a slog handler that keeps the records' messages and
// attributes as text.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.HasPrefix(l, level.String()+" ") {
			n++
		}
	}
	return n
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// TestOutage stops Redis under a cache: every call fails fast with an
// error wrapping cache.ErrStoreUnavailable, the cache keeps serving and
// storing in memory, one warning is logged for the whole outage, and once
// Redis is back (and the retry interval has passed, on the store's
// injected clock) writes reach it again and the end is logged once.
func TestOutage(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	client := srv.Client()
	logs := &logRecorder{}
	log := slog.New(logs)
	var now atomic.Int64
	now.Store(t0.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := redisstore.New(client, "outage:", redisstore.WithLogger(log), redisstore.WithClock(clock), redisstore.WithRetryInterval(time.Second))
	c := cache.New(cache.WithStore(s), cache.WithLogger(log))
	if err := c.StoreResponse(ctx, appResponse("t1", "before", "api://x/.default"), t0); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	for i := range 20 {
		tenant := fmt.Sprintf("down-%d", i)
		if err := c.StoreResponse(ctx, appResponse(tenant, "during-"+tenant, "api://x/.default"), t0); err != nil {
			t.Fatal(err)
		}
		if at, ok := c.AccessToken(ctx, appQuery(tenant, "api://x/.default"), t0); !ok || at.Secret != "during-"+tenant {
			t.Fatalf("memory does not serve during the outage: %v %v", at, ok)
		}
		if _, ok := c.AccessToken(ctx, appQuery("never-"+tenant, "api://x/.default"), t0); ok {
			t.Fatal("a token that was never stored was found")
		}
	}
	_, err := s.Load(ctx, storetest.Partition(1))
	if !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("Load during the outage = %v, want an error wrapping cache.ErrStoreUnavailable", err)
	}
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings during one outage, want 1:\n%s", n, logs)
	}

	srv.Restart()
	// Within the retry interval the store still fails fast, without
	// asking Redis.
	if err := s.Update(ctx, storetest.Partition(1), func([]byte) ([]byte, error) { return storetest.Document(1, 1), nil }); !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("Update within the retry interval = %v, want it to fail fast", err)
	}
	now.Add(int64(time.Second))
	if err := c.StoreResponse(ctx, appResponse("t2", "after", "api://x/.default"), t0); err != nil {
		t.Fatal(err)
	}
	v, err := client.Get(ctx, s.Key(cache.AppPartition("client", "t2"))).Bytes()
	if err != nil || !bytes.Contains(v, []byte("after")) {
		t.Errorf("a write after the outage did not reach Redis: %q, %v", v, err)
	}
	if n := logs.count(slog.LevelInfo); n != 1 {
		t.Errorf("%d info lines, want 1 for the end of the outage:\n%s", n, logs)
	}
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings after the outage, want still 1:\n%s", n, logs)
	}
	for _, secret := range []string{"before", "during-", "after"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a log line shows a token (%q):\n%s", secret, logs)
		}
	}
}
