package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/cache/storetest"
	"github.com/bearerhttp/bearer/internal/redistest"
)

var _ cache.Leaser = (*redisstore.Store)(nil)

func mustLease(t *testing.T, s *redisstore.Store, key string, ttl time.Duration) cache.Lease {
	t.Helper()
	l, err := s.Lease(context.Background(), storetest.Partition(1), key, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if l == nil {
		t.Fatalf("Lease(%q) = nil: held by another", key)
	}
	return l
}

func TestLeaseIsExclusive(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	p := storetest.Partition(1)
	a := mustLease(t, s, "k", time.Minute)
	if b, err := s.Lease(ctx, p, "k", time.Minute); err != nil || b != nil {
		t.Fatalf("a second Lease of a held lease = %v, %v; want nil, nil", b, err)
	}
	// Another key, or the same key in another partition, is another lease.
	mustLease(t, s, "other", time.Minute)
	if l, err := s.Lease(ctx, storetest.Partition(2), "k", time.Minute); err != nil || l == nil {
		t.Fatalf("the same key in another partition = %v, %v; want a lease", l, err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	mustLease(t, s, "k", time.Minute)
}

// TestLeaseFencing lets a lease expire and go to another holder: the
// first holder can neither renew nor release the new holder's lease.
func TestLeaseFencing(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	a := mustLease(t, s, "k", time.Minute)
	// The lease expires (the holder stopped, or stalled past its TTL).
	keys, err := c.Keys(ctx, "*:lease:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lease keys %q, %v", keys, err)
	}
	if err := c.Del(ctx, keys[0]).Err(); err != nil {
		t.Fatal(err)
	}
	b := mustLease(t, s, "k", time.Minute)
	if err := a.Renew(ctx, time.Minute); !errors.Is(err, cache.ErrLeaseLost) {
		t.Errorf("the first holder's Renew = %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("the first holder's Release = %v, want nil (nothing to do)", err)
	}
	if l, err := s.Lease(ctx, storetest.Partition(1), "k", time.Minute); err != nil || l != nil {
		t.Errorf("the first holder's Release released the second's lease: %v, %v", l, err)
	}
	if err := b.Renew(ctx, time.Minute); err != nil {
		t.Errorf("the holder's Renew = %v", err)
	}
}

func TestRenewSetsTheTTL(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	l := mustLease(t, s, "k", time.Second)
	if err := l.Renew(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*:lease:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lease keys %q, %v", keys, err)
	}
	if ttl := c.PTTL(ctx, keys[0]).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL after Renew(1h) = %v", ttl)
	}
	if !strings.HasPrefix(keys[0], s.Key(storetest.Partition(1))+":") {
		t.Errorf("lease key %q does not start with its partition's key (the hash tag keeps them in one slot)", keys[0])
	}
}

// waitSubscribed waits (polling, bounded) until n clients subscribe to
// the lease's channel.
func waitSubscribed(t *testing.T, c *redis.Client, n int64) {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*:lease:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lease keys %q, %v", keys, err)
	}
	for range 2000 {
		m, err := c.PubSubNumSub(ctx, keys[0]).Result()
		if err != nil {
			t.Fatal(err)
		}
		if m[keys[0]] >= n {
			return
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, bounded
	}
	t.Fatalf("no waiter subscribed to %s", keys[0])
}

func TestWaitLeaseEndsAtRelease(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	l := mustLease(t, s, "k", time.Hour)
	done := make(chan error, 3)
	for range 3 {
		go func() { done <- s.WaitLease(ctx, storetest.Partition(1), "k") }()
	}
	waitSubscribed(t, c, 3)
	select {
	case err := <-done:
		t.Fatalf("WaitLease returned %v while the lease is held", err)
	default:
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Errorf("WaitLease = %v", err)
		}
	}
}

// TestWaitLeaseEndsAtExpiry: a holder that stops without releasing (a
// process killed) ends its waiters' wait when its lease expires, without
// a release to wake them.
func TestWaitLeaseEndsAtExpiry(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	mustLease(t, s, "k", 300*time.Millisecond)
	if err := s.WaitLease(ctx, storetest.Partition(1), "k"); err != nil {
		t.Fatal(err)
	}
	if keys := c.Keys(ctx, "*:lease:*").Val(); len(keys) != 0 {
		t.Errorf("WaitLease returned while the lease %q is there", keys)
	}
}

func TestWaitLeaseOfNoLeaseReturnsAtOnce(t *testing.T) {
	s, _ := newStore(t)
	if err := s.WaitLease(context.Background(), storetest.Partition(1), "nobody"); err != nil {
		t.Fatal(err)
	}
}

func TestWaitLeaseEndsWithItsContext(t *testing.T) {
	s, c := newStore(t)
	mustLease(t, s, "k", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.WaitLease(ctx, storetest.Partition(1), "k") }()
	waitSubscribed(t, c, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("WaitLease = %v, want context.Canceled", err)
	}
}

func TestLeasesFailFastDuringAnOutage(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := redisstore.New(srv.Client(), "leases:")
	l := mustLease(t, s, "k", time.Minute)
	srv.Kill()
	if _, err := s.Lease(ctx, storetest.Partition(1), "j", time.Minute); !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("Lease = %v", err)
	}
	if err := s.WaitLease(ctx, storetest.Partition(1), "k"); !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("WaitLease = %v", err)
	}
	if err := l.Renew(ctx, time.Minute); !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("Renew = %v", err)
	}
	if err := l.Release(ctx); !errors.Is(err, cache.ErrStoreUnavailable) {
		t.Errorf("Release = %v", err)
	}
}
