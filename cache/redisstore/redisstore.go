// Package redisstore is a [cache.Store] in Redis, for a web app, a web API
// or a fleet of daemons whose replicas share their tokens: what one
// replica acquired, the others find, and after a restart too.
//
// Each partition of the cache (one identity: an app in a tenant, a user,
// an on-behalf-of assertion) is one key, prefix + "{" + partition + "}",
// holding the partition's MSAL cache JSON document. The braces are a
// Redis Cluster hash tag: a partition and its leases live in one slot.
//
//   - Update is atomic: WATCH, GET, then MULTI/SET/EXEC; when another
//     writer changed the key in between, the transaction fails and the
//     update function runs again on the new value, so no writer loses
//     another's entries.
//   - Every write sets the key's TTL ([WithTTL], default [DefaultTTL]:
//     long enough for refresh tokens, which Entra keeps valid for 90 days
//     of inactivity), so an identity not used for that long leaves Redis.
//   - When Redis cannot be reached, operations fail fast with an error
//     wrapping [cache.ErrStoreUnavailable] and the cache serves from
//     memory; the store logs one warning when the outage starts and one
//     line when Redis answers again, and writes resume by themselves.
//   - The store implements [cache.Leaser] (SET NX PX with a random fencing
//     value, renewed and released by scripts that check it; releases are
//     published, so waiters wake at once), so flow coalesces token
//     requests across every process sharing the Redis.
//
// Tokens are secrets: use a Redis reachable only by the service, with
// authentication and TLS (redis.Options.Password, TLSConfig) where the
// network is shared.
package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/cache"
)

// DefaultTTL is the TTL of a partition's key, refreshed by every write,
// when [WithTTL] does not say: 90 days, the inactivity limit of Entra's
// refresh tokens.
const DefaultTTL = 90 * 24 * time.Hour

// DefaultRetryInterval is how long the store fails fast after Redis
// failed to answer, before it tries Redis again, when
// [WithRetryInterval] does not say.
const DefaultRetryInterval = time.Second

// maxConflicts bounds the transactions of one Update that another writer
// interrupts.
const maxConflicts = 100

// ErrConflict is wrapped by the error of an Update whose transaction
// other writers interrupted too many times in a row.
var ErrConflict = errors.New("redisstore: too many concurrent writers of one partition")

// Store is a [cache.Store], [cache.PartitionLister] and [cache.Leaser] in
// Redis. It is safe for concurrent use.
type Store struct {
	client        redis.UniversalClient
	prefix        string
	ttl           time.Duration
	retryInterval time.Duration
	log           *slog.Logger
	now           func() time.Time

	mu       sync.Mutex
	down     bool      // Redis failed to answer, and has not answered since
	lastTry  time.Time // when Redis was last tried during an outage
	outageAt time.Time // when the outage started
}

// An Option configures a [Store] made by [New].
type Option func(*Store)

// WithTTL sets the TTL of a partition's key, set again by every write
// (default [DefaultTTL]). d <= 0 means no expiry.
func WithTTL(d time.Duration) Option {
	return func(s *Store) { s.ttl = d }
}

// WithRetryInterval sets how long the store answers at once with an error
// wrapping [cache.ErrStoreUnavailable] after Redis failed to answer,
// before one call tries Redis again (default [DefaultRetryInterval]). The
// cache serves from memory meanwhile, and no call waits on a server that
// is down.
func WithRetryInterval(d time.Duration) Option {
	return func(s *Store) { s.retryInterval = d }
}

// WithLogger sets where the store reports the start and the end of an
// outage. The default is [slog.Default]. Nothing stored is ever logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// withClock sets the clock of the outage state (tests).
func withClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// New returns a store keeping partitions in client's Redis under keys
// starting with prefix (such as "myapp:tokens:"; several applications
// can share a Redis with different prefixes). client is used as it is:
// its timeouts and retries apply to every call.
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{client: client, prefix: prefix, ttl: DefaultTTL, retryInterval: DefaultRetryInterval, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Key returns the Redis key of partition: prefix + "{" + partition + "}".
func (s *Store) Key(partition string) string {
	return s.prefix + "{" + partition + "}"
}

// Load returns the partition's document, or nil, nil when the key does
// not exist.
func (s *Store) Load(ctx context.Context, partition string) ([]byte, error) {
	if err := s.before(ctx); err != nil {
		return nil, err
	}
	b, err := s.client.Get(ctx, s.Key(partition)).Bytes()
	if errors.Is(err, redis.Nil) {
		s.after(ctx, nil)
		return nil, nil
	}
	if err = s.after(ctx, err); err != nil {
		return nil, fmt.Errorf("redisstore: load: %w", err)
	}
	return b, nil
}

// fnError carries the update function's error out of a transaction.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// Update runs fn on the partition's document (nil when there is none)
// and stores its result with the store's TTL, in a transaction that
// fails when another writer changed the key meanwhile; fn then runs
// again on the new document. fn's error is returned as it is, and nothing
// is stored.
func (s *Store) Update(ctx context.Context, partition string, fn func(old []byte) ([]byte, error)) error {
	if err := s.before(ctx); err != nil {
		return err
	}
	key := s.Key(partition)
	for range maxConflicts {
		err := s.client.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				old, err = nil, nil
			}
			if err != nil {
				return err
			}
			data, err := fn(old)
			if err != nil {
				return fnError{err}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, data, max(s.ttl, 0))
				return nil
			})
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) {
			s.after(ctx, nil)
			continue
		}
		var fe fnError
		if errors.As(err, &fe) {
			s.after(ctx, nil)
			return fe.err
		}
		if err = s.after(ctx, err); err != nil {
			return fmt.Errorf("redisstore: update: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%w: %d transactions in a row interrupted", ErrConflict, maxConflicts)
}

// Partitions returns the partitions stored under the store's prefix,
// sorted. On Redis Cluster it scans every master.
func (s *Store) Partitions(ctx context.Context) ([]string, error) {
	if err := s.before(ctx); err != nil {
		return nil, err
	}
	pattern := globEscape(s.prefix) + "{*}"
	seen := map[string]struct{}{}
	var mu sync.Mutex
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			k := strings.TrimSuffix(strings.TrimPrefix(iter.Val(), s.prefix+"{"), "}")
			mu.Lock()
			seen[k] = struct{}{}
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.client)
	}
	if err = s.after(ctx, err); err != nil {
		return nil, fmt.Errorf("redisstore: listing partitions: %w", err)
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ---- leases

// leaseKey is the key of the lease named key in partition: beside the
// partition's key (same hash tag), key hashed to a fixed length.
func (s *Store) leaseKey(partition, key string) string {
	sum := sha256.Sum256([]byte(key))
	return s.Key(partition) + ":lease:" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Renewal and release check the fencing value: a holder whose lease
// expired and went to another cannot extend or end the new holder's.
var (
	renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.call("PUBLISH", KEYS[1], "released")
	return 1
end
return 0`)
)

// Lease takes the lease named key in partition with SET NX PX and a
// random fencing value; nil, nil when another holder has it.
func (s *Store) Lease(ctx context.Context, partition, key string, ttl time.Duration) (cache.Lease, error) {
	if err := s.before(ctx); err != nil {
		return nil, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	l := &lease{s: s, key: s.leaseKey(partition, key), token: hex.EncodeToString(b[:])}
	ok, err := s.client.SetNX(ctx, l.key, l.token, ttl).Result()
	if err = s.after(ctx, err); err != nil {
		return nil, fmt.Errorf("redisstore: lease: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return l, nil
}

type lease struct {
	s     *Store
	key   string
	token string
}

func (l *lease) Renew(ctx context.Context, ttl time.Duration) error {
	if err := l.s.before(ctx); err != nil {
		return err
	}
	n, err := renewScript.Run(ctx, l.s.client, []string{l.key}, l.token, ttl.Milliseconds()).Int64()
	if err = l.s.after(ctx, err); err != nil {
		return fmt.Errorf("redisstore: renewing a lease: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: renewing a lease: %w", cache.ErrLeaseLost)
	}
	return nil
}

func (l *lease) Release(ctx context.Context) error {
	if err := l.s.before(ctx); err != nil {
		return err
	}
	err := releaseScript.Run(ctx, l.s.client, []string{l.key}, l.token).Err()
	if err = l.s.after(ctx, err); err != nil {
		return fmt.Errorf("redisstore: releasing a lease: %w", err)
	}
	return nil
}

// maxLeasePoll bounds the time between two looks at a lease: a release
// is published, but a waiter whose subscription broke (Redis restarted)
// sees the lease gone, or Redis failing, by looking.
const maxLeasePoll = 250 * time.Millisecond

// WaitLease returns once the lease is not held. It subscribes to the
// lease's releases, then looks at the lease: gone, it returns; held, it
// waits for a release or until the lease's TTL has run out (a holder that
// stopped renewing), and looks again.
func (s *Store) WaitLease(ctx context.Context, partition, key string) error {
	if err := s.before(ctx); err != nil {
		return err
	}
	lk := s.leaseKey(partition, key)
	sub := s.client.Subscribe(ctx, lk)
	defer sub.Close()
	// The subscription is in place once Redis confirms it: a release
	// published after that is seen.
	if _, err := sub.Receive(ctx); err != nil {
		if err = s.after(ctx, err); err != nil {
			return fmt.Errorf("redisstore: waiting for a lease: %w", err)
		}
		return ctx.Err()
	}
	released := sub.Channel()
	for {
		pttl, err := s.client.PTTL(ctx, lk).Result()
		if err = s.after(ctx, err); err != nil {
			return fmt.Errorf("redisstore: waiting for a lease: %w", err)
		}
		if pttl == -2 {
			return nil // no such key (go-redis reports PTTL's -2 as is)
		}
		wait := pttl
		if wait <= 0 || wait > maxLeasePoll {
			wait = maxLeasePoll
		}
		t := time.NewTimer(wait + time.Millisecond)
		select {
		case <-released:
			t.Stop()
			return nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// ---- outages

// before fails fast during an outage, except for one call every retry
// interval, which tries Redis.
func (s *Store) before(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return nil
	}
	now := s.now()
	if now.Sub(s.lastTry) < s.retryInterval {
		return fmt.Errorf("redisstore: %w: Redis has not answered since %s", cache.ErrStoreUnavailable, s.outageAt.Format(time.RFC3339))
	}
	s.lastTry = now
	return nil
}

// after records the outcome of a call to Redis: an outage starts at a
// failure to reach Redis, and ends at any answer. It returns err, wrapping
// cache.ErrStoreUnavailable when Redis could not be reached.
func (s *Store) after(ctx context.Context, err error) error {
	unreachable := err != nil && ctx.Err() == nil && isUnreachable(err)
	if err != nil && !unreachable {
		return err
	}
	s.mu.Lock()
	was := s.down
	if unreachable {
		if !was {
			s.down, s.outageAt = true, s.now()
		}
		s.lastTry = s.now()
	} else {
		s.down = false
	}
	start := s.outageAt
	s.mu.Unlock()
	switch {
	case unreachable && !was:
		s.log.LogAttrs(ctx, slog.LevelWarn, "redisstore: Redis is unreachable; the token cache serves from memory, and writes resume when Redis answers",
			slog.String("prefix", s.prefix), slog.String("error", err.Error()))
	case !unreachable && was:
		s.log.LogAttrs(ctx, slog.LevelInfo, "redisstore: Redis answers again; writes resume",
			slog.String("prefix", s.prefix), slog.Duration("outage", s.now().Sub(start)))
	}
	if unreachable {
		return fmt.Errorf("%w: %w", cache.ErrStoreUnavailable, err)
	}
	return nil
}

// isUnreachable reports whether err says Redis could not be reached or
// cannot serve now (connection errors, timeouts, a server loading its
// data or without a master), rather than an error in the request.
func isUnreachable(err error) bool {
	if errors.Is(err, redis.Nil) || errors.Is(err, redis.TxFailedErr) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}
