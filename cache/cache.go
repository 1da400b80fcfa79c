package cache

import (
	"encoding/json"
	"hash/maphash"
	"log/slog"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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

	loads singleflight.Group

	metaMu sync.RWMutex
	meta   []*metaEntry

	idxMu     sync.Mutex
	acctParts map[*partition]int            // user partitions holding accounts → how many
	byUser    map[string]map[*partition]int // lower-cased username → partitions → how many
	appParts  map[string]map[*partition]struct{}

	extraMu sync.Mutex         // guards opaque and unknown
	opaque  map[string][]rawKV // entries read but too incomplete to index
	unknown []rawKV            // sections read that this package does not know
}

// shard is one lock's worth of partitions.
type shard struct {
	mu      sync.Mutex
	parts   map[uint64]*partition // by partition hash, chained on collision
	buckets map[uint64]*bucket    // access token buckets by key hash, chained
	head    *partition            // most recently used
	tail    *partition            // least recently used
	heap    []*atEntry            // access tokens by expires_on, soonest first
	_       [40]byte              // keep shards' locks on separate cache lines
}

// partition holds one identity's entries.
type partition struct {
	id           partID
	hash         uint64
	chain        *partition
	newer, older *partition
	buckets      []*bucket
	rts          []*rtEntry
	idts         []*idtEntry
	accts        []*acctEntry
	n            int64 // entries
	size         int64 // estimated bytes, overhead included
	loaded       bool  // read from the store since it was created
	dead         bool  // removed from its shard
}

// bucket holds the access tokens of one partition that share environment,
// realm, client, token type and key ID: they differ only by scopes.
type bucket struct {
	hash      uint64
	chain     *bucket
	part      *partition
	env       string // entra.CacheEnvironment of the entries' environment
	realm     string
	client    string
	tokenType string // normTokenType
	keyID     string
	ats       []*atEntry
}

// atEntry is a cached access token. Its fields never change after it is
// made, except heapIdx (under the shard lock).
type atEntry struct {
	b         *bucket
	heapIdx   int
	key       string // key read from JSON, "" when made here
	home      string
	env       string // as written
	credType  string
	tokenType string // as written
	secret    string
	target    string
	scopes    []string
	cachedAt  int64
	expiresOn int64
	extExpOn  int64
	refreshOn int64
	extra     map[string]json.RawMessage
	size      int64
}

type rtEntry struct {
	t    RefreshToken
	key  string
	env  string // canonical
	size int64
}

type idtEntry struct {
	t    IDToken
	key  string
	env  string
	size int64
}

type acctEntry struct {
	a    Account
	key  string
	env  string
	size int64
}

type metaEntry struct {
	m   AppMetadata
	key string
	env string
}

// Estimated fixed costs, for the byte budget: the structs and the map,
// slice and heap slots that point at them.
var (
	atOverhead     = int64(unsafe.Sizeof(atEntry{})) + 8 + 8 + 16
	bucketOverhead = int64(unsafe.Sizeof(bucket{})) + 24 + 8
	partOverhead   = int64(unsafe.Sizeof(partition{})) + 24
	rtOverhead     = int64(unsafe.Sizeof(rtEntry{})) + 8
	idtOverhead    = int64(unsafe.Sizeof(idtEntry{})) + 8
	acctOverhead   = int64(unsafe.Sizeof(acctEntry{})) + 8
)

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

func (s *shard) init() {
	s.parts = make(map[uint64]*partition)
	s.buckets = make(map[uint64]*bucket)
	s.head, s.tail, s.heap = nil, nil, nil
}

func (c *Cache) resetIndexes() {
	c.acctParts = make(map[*partition]int)
	c.byUser = make(map[string]map[*partition]int)
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

// cacheEnvironment is entra.CacheEnvironment with the public cloud's
// usual hosts answered without a map lookup.
func cacheEnvironment(host string) string {
	switch host {
	case "login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net":
		return "login.windows.net"
	}
	return entra.CacheEnvironment(host)
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

// ---- partitions (callers hold s.mu)

func (s *shard) part(id partID, h uint64) *partition {
	for p := s.parts[h]; p != nil; p = p.chain {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (c *Cache) partOrNew(s *shard, id partID, h uint64) *partition {
	if p := s.part(id, h); p != nil {
		return p
	}
	p := &partition{id: id, hash: h, size: partOverhead}
	p.chain = s.parts[h]
	s.parts[h] = p
	s.pushFront(p)
	c.nparts.Add(1)
	c.bytes.Add(p.size)
	if id.kind == kindApp {
		c.idxMu.Lock()
		m := c.appParts[id.a]
		if m == nil {
			m = make(map[*partition]struct{})
			c.appParts[id.a] = m
		}
		m[p] = struct{}{}
		c.idxMu.Unlock()
	}
	return p
}

func (s *shard) pushFront(p *partition) {
	p.older = s.head
	p.newer = nil
	if s.head != nil {
		s.head.newer = p
	}
	s.head = p
	if s.tail == nil {
		s.tail = p
	}
}

func (s *shard) unlink(p *partition) {
	if p.newer != nil {
		p.newer.older = p.older
	} else {
		s.head = p.older
	}
	if p.older != nil {
		p.older.newer = p.newer
	} else {
		s.tail = p.newer
	}
	p.newer, p.older = nil, nil
}

// touch marks p most recently used.
func (s *shard) touch(p *partition) {
	if s.head == p {
		return
	}
	s.unlink(p)
	s.pushFront(p)
}

// removePartition drops p and everything in it.
func (c *Cache) removePartition(s *shard, p *partition) {
	for _, b := range p.buckets {
		for _, e := range b.ats {
			s.heapRemove(e)
		}
		s.dropBucket(b)
	}
	if len(p.accts) > 0 {
		c.idxMu.Lock()
		for _, a := range p.accts {
			c.unindexAccount(p, a)
		}
		c.idxMu.Unlock()
	}
	if p.id.kind == kindApp {
		c.idxMu.Lock()
		if m := c.appParts[p.id.a]; m != nil {
			delete(m, p)
			if len(m) == 0 {
				delete(c.appParts, p.id.a)
			}
		}
		c.idxMu.Unlock()
	}
	s.unlink(p)
	if head := s.parts[p.hash]; head == p {
		if p.chain == nil {
			delete(s.parts, p.hash)
		} else {
			s.parts[p.hash] = p.chain
		}
	} else {
		for q := head; q != nil; q = q.chain {
			if q.chain == p {
				q.chain = p.chain
				break
			}
		}
	}
	c.entries.Add(-p.n)
	c.bytes.Add(-p.size)
	c.nparts.Add(-1)
	*p = partition{id: p.id, dead: true}
}

// dropIfEmpty removes p when it holds nothing and was not read from the
// store (an empty loaded partition records that the store has nothing).
func (c *Cache) dropIfEmpty(s *shard, p *partition) {
	if p.n == 0 && !p.loaded && !p.dead {
		c.removePartition(s, p)
	}
}

// ---- access token buckets (callers hold s.mu)

func (s *shard) bucket(h uint64, p *partition, env, realm, client, tokenType, keyID string) *bucket {
	for b := s.buckets[h]; b != nil; b = b.chain {
		if b.hash == h && b.part == p && b.env == env && b.realm == realm && b.client == client && b.tokenType == tokenType && b.keyID == keyID {
			return b
		}
	}
	return nil
}

// findBucket is bucket for a lookup, which has a partition ID and no
// partition yet.
func (s *shard) findBucket(h uint64, id partID, env, realm, client, tokenType, keyID string) *bucket {
	for b := s.buckets[h]; b != nil; b = b.chain {
		if b.hash == h && b.env == env && b.realm == realm && b.client == client && b.tokenType == tokenType && b.keyID == keyID && b.part.id == id {
			return b
		}
	}
	return nil
}

func (c *Cache) bucketOrNew(s *shard, h uint64, p *partition, env, realm, client, tokenType, keyID string) *bucket {
	if b := s.bucket(h, p, env, realm, client, tokenType, keyID); b != nil {
		return b
	}
	b := &bucket{hash: h, part: p, env: env, realm: realm, client: client, tokenType: tokenType, keyID: keyID}
	b.chain = s.buckets[h]
	s.buckets[h] = b
	p.buckets = append(p.buckets, b)
	sz := bucketOverhead + int64(len(realm)+len(client)+len(keyID))
	p.size += sz
	c.bytes.Add(sz)
	return b
}

// dropBucket unhooks b from the shard's map (its partition's counters are
// the caller's business).
func (s *shard) dropBucket(b *bucket) {
	if head := s.buckets[b.hash]; head == b {
		if b.chain == nil {
			delete(s.buckets, b.hash)
		} else {
			s.buckets[b.hash] = b.chain
		}
		return
	}
	for q := s.buckets[b.hash]; q != nil; q = q.chain {
		if q.chain == b {
			q.chain = b.chain
			return
		}
	}
}

func (c *Cache) addAT(s *shard, b *bucket, e *atEntry) {
	e.b = b
	e.size = atOverhead + int64(len(e.key)+len(e.home)+len(e.secret)+len(e.target)+16*len(e.scopes)) + extraSize(e.extra)
	b.ats = append(b.ats, e)
	s.heapPush(e)
	p := b.part
	p.n++
	p.size += e.size
	c.entries.Add(1)
	c.bytes.Add(e.size)
}

// removeAT drops e; its bucket goes when empty, its partition too when
// empty and not loaded.
func (c *Cache) removeAT(s *shard, e *atEntry) {
	b := e.b
	if i := slices.Index(b.ats, e); i >= 0 {
		b.ats = slices.Delete(b.ats, i, i+1)
	}
	s.heapRemove(e)
	p := b.part
	p.n--
	p.size -= e.size
	c.entries.Add(-1)
	c.bytes.Add(-e.size)
	if len(b.ats) == 0 {
		s.dropBucket(b)
		if i := slices.Index(p.buckets, b); i >= 0 {
			p.buckets = slices.Delete(p.buckets, i, i+1)
		}
		sz := bucketOverhead + int64(len(b.realm)+len(b.client)+len(b.keyID))
		p.size -= sz
		c.bytes.Add(-sz)
	}
	c.dropIfEmpty(s, p)
}

func extraSize(m map[string]json.RawMessage) int64 {
	var n int64
	for k, v := range m {
		n += int64(len(k)+len(v)) + 48
	}
	return n
}

func (e *atEntry) export() AccessToken {
	b := e.b
	t := AccessToken{
		HomeAccountID:     e.home,
		Environment:       e.env,
		Realm:             b.realm,
		ClientID:          b.client,
		CredentialType:    e.credType,
		Target:            e.target,
		Secret:            e.secret,
		CachedAt:          unixTime(e.cachedAt),
		ExpiresOn:         unixTime(e.expiresOn),
		ExtendedExpiresOn: unixTime(e.extExpOn),
		RefreshOn:         unixTime(e.refreshOn),
		TokenType:         e.tokenType,
		KeyID:             b.keyID,
	}
	if b.part.id.kind == kindOBO {
		t.UserAssertionHash = b.part.id.a
	}
	if e.extra != nil {
		t.Extra = maps.Clone(e.extra)
	}
	return t
}

func unixTime(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

func unixOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return s
}

// newATEntry makes the cache's form of t (not yet in a bucket).
func newATEntry(key string, t AccessToken) *atEntry {
	return &atEntry{
		heapIdx:   -1,
		key:       key,
		home:      t.HomeAccountID,
		env:       t.Environment,
		credType:  t.CredentialType,
		tokenType: t.TokenType,
		secret:    t.Secret,
		target:    t.Target,
		scopes:    splitScopes(t.Target),
		cachedAt:  unixOf(t.CachedAt),
		expiresOn: unixOf(t.ExpiresOn),
		extExpOn:  unixOf(t.ExtendedExpiresOn),
		refreshOn: unixOf(t.RefreshOn),
		extra:     t.Extra,
	}
}

// insertAT puts t in its bucket (making partition and bucket as needed)
// without replacing anything; callers hold s.mu.
func (c *Cache) insertAT(s *shard, p *partition, key string, t AccessToken) *atEntry {
	env := cacheEnvironment(t.Environment)
	tt := normTokenType(t.TokenType)
	bh := c.hashBucket(p.hash, t.Realm, t.ClientID)
	b := c.bucketOrNew(s, bh, p, env, t.Realm, t.ClientID, tt, t.KeyID)
	e := newATEntry(key, t)
	c.addAT(s, b, e)
	return e
}

// ---- the expiry heap (callers hold s.mu)

func (s *shard) heapPush(e *atEntry) {
	e.heapIdx = len(s.heap)
	s.heap = append(s.heap, e)
	s.heapUp(e.heapIdx)
}

func (s *shard) heapRemove(e *atEntry) {
	i := e.heapIdx
	if i < 0 {
		return
	}
	last := len(s.heap) - 1
	if i != last {
		s.heapSwap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	if i != last {
		if !s.heapDown(i) {
			s.heapUp(i)
		}
	}
	e.heapIdx = -1
}

func (s *shard) heapSwap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].heapIdx = i
	s.heap[j].heapIdx = j
}

func (s *shard) heapUp(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if s.heap[parent].expiresOn <= s.heap[i].expiresOn {
			return
		}
		s.heapSwap(i, parent)
		i = parent
	}
}

func (s *shard) heapDown(i int) bool {
	start := i
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.heap[r].expiresOn < s.heap[l].expiresOn {
			m = r
		}
		if s.heap[i].expiresOn <= s.heap[m].expiresOn {
			break
		}
		s.heapSwap(i, m)
		i = m
	}
	return i > start
}

// sweepShard drops up to limit (all when limit < 0) access tokens that
// expired at or before nowSec, reporting how many it dropped.
func (c *Cache) sweepShard(s *shard, nowSec int64, limit int) int {
	n := 0
	for len(s.heap) > 0 && s.heap[0].expiresOn <= nowSec && (limit < 0 || n < limit) {
		c.removeAT(s, s.heap[0])
		n++
	}
	return n
}

// Sweep drops every access token that has expired at now (refresh tokens
// have no expiry and stay). Its cost follows the number of tokens dropped
// (a heap per shard ordered by expires_on), not the number cached. Expired
// tokens are also dropped when a lookup meets them and, a few at a time,
// when a response is stored; call Sweep periodically to bound memory held
// by tokens nobody asks for again.
func (c *Cache) Sweep(now time.Time) int {
	nowSec := now.Unix()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += c.sweepShard(s, nowSec, -1)
		s.mu.Unlock()
	}
	return n
}

// ---- eviction

func (c *Cache) over() bool {
	if c.maxEntries > 0 && (c.entries.Load() > c.maxEntries || c.nparts.Load() > c.maxEntries) {
		return true
	}
	return c.maxBytes > 0 && c.bytes.Load() > c.maxBytes
}

// enforce evicts least recently used partitions until the cache is within
// its caps. It starts with the shard just written to (start) and moves on
// only when that shard has nothing but keep, the partition just written,
// which goes last.
func (c *Cache) enforce(idx int, keep *partition) {
	if !c.over() {
		return
	}
	n := len(c.shards)
	empty := 0
	for c.over() && empty < 2*n {
		s := &c.shards[idx]
		s.mu.Lock()
		p := s.tail
		if p == keep && empty < n {
			p = nil
		}
		if p != nil {
			c.removePartition(s, p)
			s.mu.Unlock()
			empty = 0
			continue
		}
		s.mu.Unlock()
		empty++
		idx = (idx + 1) & int(c.mask)
	}
}
