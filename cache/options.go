package cache

import (
	"log/slog"
	"time"
)

// DefaultMaxEntries is the entry cap of a [Cache] made without
// [WithMaxEntries].
const DefaultMaxEntries = 100_000

// An Option configures a [Cache] made by [New].
type Option func(*config)

type config struct {
	maxEntries  int64
	maxBytes    int64
	store       Store
	logger      *slog.Logger
	shards      int
	loadTimeout time.Duration
}

// WithMaxEntries caps the number of entries (access tokens, refresh tokens,
// ID tokens and accounts; app metadata is not counted) and of partitions
// held in memory. When an insert goes over the cap, the least recently used
// partitions are evicted whole until the cache is back under it. n <= 0
// removes the cap. The default is [DefaultMaxEntries].
func WithMaxEntries(n int) Option {
	return func(c *config) { c.maxEntries = int64(n) }
}

// WithMaxBytes caps the estimated memory of the cached entries: the bytes
// of their strings plus a fixed overhead per entry, partition and index
// slot (see [Stats.Bytes]). Eviction works as for [WithMaxEntries]. n <= 0
// (the default) means no byte cap.
func WithMaxBytes(n int64) Option {
	return func(c *config) { c.maxBytes = n }
}

// WithStore puts the cache in front of a persistent [Store]: a lookup that
// misses in memory reads the identity's partition from the store once
// (read-through), and every token response and removal is written to it
// (write-through). Store failures are logged and survived: the in-memory
// cache keeps serving.
func WithStore(s Store) Option {
	return func(c *config) { c.store = s }
}

// WithLogger sets where store failures are logged. Log records never hold
// a token, a secret or an assertion. The default is [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// withShards sets the number of lock shards (rounded up to a power of two);
// tests use one shard for an exact eviction order.
func withShards(n int) Option {
	return func(c *config) { c.shards = n }
}
