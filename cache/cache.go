package cache

import (
	"hash/maphash"
	"log/slog"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/bearerhttp/bearer/internal/entra"
)

// Cache is an in-memory token cache in the MSAL unified schema, optionally
// in front of a persistent [Store]. It is safe for concurrent use; the zero
// value is not usable, make one with [New].
//
// Entries are grouped in partitions, one per identity (see [AppPartition],
// [AssertionHash], [UserPartition]), spread over lock shards by a hash of
// the partition. Finding an access token costs one hash lookup on
// (partition, environment, realm, client, token type, key ID) and a scan of
// the few scope sets cached under that key, however many entries the cache
// holds.
//
// Time: no method reads the clock. Every operation whose result depends on
// time takes now, so the caller's injected clock (flow.WithClock) decides.
// Timestamps are kept to the second, as the MSAL schema stores them.
type Cache struct {
	seed   maphash.Seed
	shards []shard
	mask   uint64

	maxEntries  int64
	maxBytes    int64
	store       Store
	log         *slog.Logger
	loadTimeout time.Duration

	entries atomic.Int64
	bytes   atomic.Int64
	nparts  atomic.Int64
	gen     atomic.Uint64 // see Generation

	loads   singleflight.Group
	traffic []storeTraffic // by shard, guarded by the shard's lock

	metaMu sync.RWMutex
	meta   []*metaEntry

	idxMu     sync.Mutex
	acctParts map[*partition]struct{}            // user partitions holding accounts
	byUser    map[string]map[*partition]struct{} // lower-cased username → user partitions with its accounts
	appParts  map[string]map[*partition]struct{} // client ID → its app partitions

	extraMu sync.Mutex         // guards opaque and unknown
	opaque  map[string][]rawKV // entries read but too incomplete to index
	unknown []rawKV            // sections read that this package does not know
}

const defaultShards = 64

// New returns an empty cache configured by opts.
func New(opts ...Option) *Cache {
	cfg := config{maxEntries: DefaultMaxEntries, shards: defaultShards, loadTimeout: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	n := 1
	if cfg.shards > 1 {
		n = 1 << bits.Len(uint(cfg.shards-1))
	}
	c := &Cache{
		seed:        maphash.MakeSeed(),
		shards:      make([]shard, n),
		traffic:     make([]storeTraffic, n),
		mask:        uint64(n - 1),
		maxEntries:  cfg.maxEntries,
		maxBytes:    cfg.maxBytes,
		store:       cfg.store,
		log:         cfg.logger,
		loadTimeout: cfg.loadTimeout,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for i := range c.shards {
		c.shards[i].init()
	}
	c.resetIndexes()
	return c
}

func (c *Cache) resetIndexes() {
	c.acctParts = make(map[*partition]struct{})
	c.byUser = make(map[string]map[*partition]struct{})
	c.appParts = make(map[string]map[*partition]struct{})
}

// Stats are a cache's counters.
type Stats struct {
	// Entries is the number of access tokens, refresh tokens, ID tokens
	// and accounts held in memory.
	Entries int
	// Partitions is the number of partitions (identities) held in memory.
	Partitions int
	// Bytes is the estimated memory the entries use: their strings plus the
	// fixed size of the structures and index slots holding them.
	Bytes int64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{Entries: int(c.entries.Load()), Partitions: int(c.nparts.Load()), Bytes: c.bytes.Load()}
}

// ---- hashing

func mix(h, v uint64) uint64 {
	h ^= v
	h *= 0x9E3779B97F4A7C15
	return h ^ (h >> 29)
}

func (c *Cache) hashPart(id partID) uint64 {
	h := maphash.String(c.seed, id.a)
	if id.kind == kindApp {
		h = mix(h, maphash.String(c.seed, id.b))
	}
	return mix(h, uint64(id.kind))
}

// hashBucket hashes a bucket's partition, realm and client. Buckets that
// differ only by environment, token type or key ID (rare) share a chain.
func (c *Cache) hashBucket(ph uint64, realm, client string) uint64 {
	h := mix(ph, maphash.String(c.seed, realm))
	return mix(h, maphash.String(c.seed, client))
}

// canonEnv names host's cloud for comparisons: every alias of a known
// Entra cloud gives the cloud's preferred network host (the host apps
// configure, so entries written with it need nothing more recorded), any
// other host itself, lower-cased. The public cloud's usual hosts are
// answered without a map lookup.
func canonEnv(host string) string {
	switch host {
	case "login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net":
		return "login.microsoftonline.com"
	}
	if cloud, ok := entra.Lookup(host); ok {
		return cloud.PreferredNetwork
	}
	return strings.ToLower(host)
}

func (c *Cache) shardIndex(ph uint64) int { return int((ph ^ ph>>32) & c.mask) }

// normTokenType folds a token type to lower case; "" is Bearer. The common
// types need no allocation.
func normTokenType(t string) string {
	switch {
	case t == "" || strings.EqualFold(t, "bearer"):
		return "bearer"
	case strings.EqualFold(t, "pop"):
		return "pop"
	case strings.EqualFold(t, "dpop"):
		return "dpop"
	case strings.EqualFold(t, "ssh-cert"):
		return "ssh-cert"
	}
	return strings.ToLower(t)
}

// Generation returns a number that changes whenever an access token is
// added to the cache or leaves it (replaced, expired, evicted, removed,
// or the whole contents replaced). Cached access tokens never change in
// place: when two calls return the same number, every access token
// [Cache.AccessToken] returned between them is still cached, as it was.
// A caller may thus keep a token it looked up, with the generation read
// before the lookup, and serve it again without a lookup while the
// generation stays the same (and the token is still usable).
func (c *Cache) Generation() uint64 { return c.gen.Load() }
