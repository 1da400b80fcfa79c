package cache

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// The in-memory index. A shard holds partitions (one per identity) in a
// hash map and in a least-recently-used list, the access token buckets of
// those partitions in a second hash map, and a heap of its access tokens
// ordered by expiry. The structures are laid out so that a lookup reads
// few cache lines: the fields a lookup compares come first.

// shard is one lock's worth of partitions.
type shard struct {
	mu      sync.Mutex
	parts   map[uint64]*partition // by partition hash, chained on collision
	buckets table                 // by hashBucket, chained
	head    *partition            // most recently used
	tail    *partition            // least recently used
	clock   uint64                // counts pushes to the front of the list
	n       int                   // partitions in the list
	heap    []*atEntry            // access tokens by expires_on, soonest first
	_       [24 + 24]byte         // 128 bytes: shards' locks on separate cache lines
}

func (s *shard) init() {
	s.parts = make(map[uint64]*partition)
	s.buckets = table{}
	s.head, s.tail, s.heap = nil, nil, nil
	s.clock, s.n = 0, 0
}

// partition holds one identity's entries.
type partition struct {
	id           partID     // never changes; may be read without the shard lock
	stamp        uint64     // shard.clock when last pushed to the front
	newer, older *partition // LRU list
	hash         uint64     // never changes; may be read without the shard lock
	chain        *partition // hash chain
	buckets      *bucket    // its access token buckets, linked by pnext
	x            *partExtra // refresh tokens, ID tokens, accounts; nil when none
	blk          *block     // the block p was made in, if any (its bucket and entry may be free)
	size         int64      // estimated bytes, overhead included
	n            int32      // entries
	loaded       bool       // read from the store since it was created
	dead         bool       // removed from its shard
}

// partExtra holds a partition's entries other than access tokens (few).
type partExtra struct {
	rts   []*rtEntry
	idts  []*idtEntry
	accts []*acctEntry
}

func (p *partition) rts() []*rtEntry {
	if p.x == nil {
		return nil
	}
	return p.x.rts
}

func (p *partition) idts() []*idtEntry {
	if p.x == nil {
		return nil
	}
	return p.x.idts
}

func (p *partition) accts() []*acctEntry {
	if p.x == nil {
		return nil
	}
	return p.x.accts
}

// ext returns p's partExtra, making it when needed.
func (c *Cache) ext(p *partition) *partExtra {
	if p.x == nil {
		p.x = &partExtra{}
		p.size += extraOverhead
		c.bytes.Add(extraOverhead)
	}
	return p.x
}

// bucket holds the access tokens of one partition that share environment,
// realm, client, token type and key ID: they differ only by scopes.
type bucket struct {
	hash   uint64
	part   *partition
	head   *atEntry // its tokens, linked by next
	chain  *bucket  // hash chain
	realm  string
	client string
	// Less often decisive (usually one value per cache).
	env       string // canonEnv of the entries' environment
	tokenType string // normTokenType
	keyID     string
	pnext     *bucket // the partition's next bucket
}

// atEntry is a cached access token. Its fields never change after it is
// made, except heapIdx and next (under the shard lock). What a lookup
// reads comes first; what is usually implied by the bucket is in rare.
type atEntry struct {
	expiresOn int64
	cachedAt  int64
	target    string
	secret    string
	b         *bucket
	next      *atEntry
	home      string
	refreshOn int64
	extExpOn  int64
	heapIdx   int32
	// secretAt is where the token starts in secret: len("Bearer ") for a
	// bearer token, whose secret holds its Authorization header value
	// (see AccessToken.Authorization), else 0.
	secretAt uint8
	rare     *atRare
}

// token is the access token itself.
func (e *atEntry) token() string { return e.secret[e.secretAt:] }

// atRare holds what an access token has that its bucket does not imply:
// set for entries read from JSON (their key), with another environment
// alias or spelling of the token type or credential type, or unknown
// fields.
type atRare struct {
	key       string
	env       string
	credType  string
	tokenType string
	extra     map[string]json.RawMessage
}

type rtEntry struct {
	t   RefreshToken
	key string
	env string // canonical
}

type idtEntry struct {
	t   IDToken
	key string
	env string
}

type acctEntry struct {
	a   Account
	key string
	env string
}

type metaEntry struct {
	m   AppMetadata
	key string
	env string
}

// Estimated fixed costs, for the byte budget: the structs, and the map,
// slice and heap slots that point at them.
var (
	atOverhead     = int64(unsafe.Sizeof(atEntry{})) + 8
	atRareOverhead = int64(unsafe.Sizeof(atRare{}))
	bucketOverhead = int64(unsafe.Sizeof(bucket{})) + 24
	partOverhead   = int64(unsafe.Sizeof(partition{})) + 24
	extraOverhead  = int64(unsafe.Sizeof(partExtra{}))
	rtOverhead     = int64(unsafe.Sizeof(rtEntry{})) + 8
	idtOverhead    = int64(unsafe.Sizeof(idtEntry{})) + 8
	acctOverhead   = int64(unsafe.Sizeof(acctEntry{})) + 8
)

// ---- partitions (callers hold s.mu)

func (s *shard) part(id partID, h uint64) *partition {
	for p := s.parts[h]; p != nil; p = p.chain {
		if p.id == id {
			return p
		}
	}
	return nil
}

// block is the memory of a partition that starts with an access token:
// partition, bucket and entry are allocated together, with the partition
// ID (user and on-behalf-of partitions) and the token's target copied in
// when they fit, so a lookup reads one object instead of five (they go
// together when the partition goes).
type block struct {
	p    partition
	b    bucket
	e    atEntry
	buf  [88]byte
	nbuf uint8
}

// inline returns s copied into the block's buffer, or s when it does not
// fit. The copy is never written again.
func (blk *block) inline(s string) string {
	n := int(blk.nbuf)
	if s == "" || len(s) > len(blk.buf)-n {
		return s
	}
	copy(blk.buf[n:], s)
	blk.nbuf += uint8(len(s))
	return unsafe.String(&blk.buf[n], len(s))
}

// partOrNew returns partition id of s, making it when s has none. A
// partition made for an access token (forAT) is made in a block, which
// the token's bucket and entry then share.
func (c *Cache) partOrNew(s *shard, id partID, h uint64, forAT bool) *partition {
	if p := s.part(id, h); p != nil {
		return p
	}
	var p *partition
	if forAT {
		blk := new(block)
		p = &blk.p
		p.blk = blk
		if id.kind != kindApp {
			id.a = blk.inline(id.a)
		}
	} else {
		p = &partition{}
	}
	p.id, p.hash, p.size = id, h, partOverhead+int64(len(id.a)+len(id.b))
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
	s.clock++
	s.n++
	p.stamp = s.clock
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
	s.n--
}

// touch marks p most recently used. A partition among the most recent
// quarter of its shard's list stays where it is: a hit then writes
// nothing but the shard's lock, and reads no neighbour. Such a partition
// still has at least three quarters of the list ahead of eviction, so the
// order stays least recently used first up to that quarter.
func (s *shard) touch(p *partition) {
	if s.clock-p.stamp < uint64(s.n/4) || s.head == p {
		return
	}
	s.unlink(p)
	s.pushFront(p)
}

// removePartition drops p and everything in it.
func (c *Cache) removePartition(s *shard, p *partition) {
	c.gen.Add(1) // (access tokens leave here, through removeAT, or with a reset)
	for b := p.buckets; b != nil; b = b.pnext {
		for e := b.head; e != nil; e = e.next {
			s.heapRemove(e)
		}
		s.dropBucket(b)
	}
	if accts := p.accts(); len(accts) > 0 && p.id.kind == kindUser {
		c.idxMu.Lock()
		delete(c.acctParts, p)
		for _, a := range accts {
			c.unindexUser(p, strings.ToLower(a.a.Username))
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
	c.entries.Add(-int64(p.n))
	c.bytes.Add(-p.size)
	c.nparts.Add(-1)
	// Clear everything but id and hash, which never change after p is
	// made and are read without the shard lock (to find the shard).
	p.stamp, p.newer, p.older, p.chain = 0, nil, nil, nil
	p.buckets, p.x, p.blk = nil, nil, nil
	p.size, p.n, p.loaded, p.dead = 0, 0, false, true
}

// dropIfEmpty removes p when it holds nothing and was not read from the
// store (an empty loaded partition records that the store has nothing).
func (c *Cache) dropIfEmpty(s *shard, p *partition) {
	if p.n == 0 && !p.loaded && !p.dead {
		c.removePartition(s, p)
	}
}

// count adds an entry of size bytes (removes one when size < 0) to p's and
// the cache's counters.
func (c *Cache) count(p *partition, size int64) {
	n := int32(1)
	if size < 0 {
		n = -1
	}
	p.n += n
	p.size += size
	c.entries.Add(int64(n))
	c.bytes.Add(size)
}

// ---- access token buckets (callers hold s.mu)

func (b *bucket) matches(env, realm, client, tokenType, keyID string) bool {
	return b.realm == realm && b.client == client && b.env == env && b.tokenType == tokenType && b.keyID == keyID
}

// findBucket finds the bucket for a lookup, which has a partition ID and
// no partition yet.
func (s *shard) findBucket(h uint64, id partID, env, realm, client, tokenType, keyID string) *bucket {
	for b := s.buckets.get(h); b != nil; b = b.chain {
		if b.hash == h && b.matches(env, realm, client, tokenType, keyID) && b.part.id == id {
			return b
		}
	}
	return nil
}

func (c *Cache) bucketOrNew(s *shard, h uint64, p *partition, env, realm, client, tokenType, keyID string) *bucket {
	for b := s.buckets.get(h); b != nil; b = b.chain {
		if b.part == p && b.matches(env, realm, client, tokenType, keyID) {
			return b
		}
	}
	var b *bucket
	if blk := p.blk; blk != nil && blk.b.part == nil {
		// The partition's first bucket and entry come from its block (a
		// bucket once made there keeps its part).
		b = &blk.b
	} else {
		b = &bucket{}
	}
	*b = bucket{hash: h, part: p, env: env, realm: realm, client: client, tokenType: tokenType, keyID: keyID}
	b.chain = s.buckets.get(h)
	s.buckets.set(h, b)
	b.pnext = p.buckets
	p.buckets = b
	sz := bucketSize(b)
	p.size += sz
	c.bytes.Add(sz)
	return b
}

func bucketSize(b *bucket) int64 {
	return bucketOverhead + int64(len(b.realm)+len(b.client)+len(b.keyID))
}

// dropBucket unhooks b from the shard's map (its partition is the
// caller's business).
func (s *shard) dropBucket(b *bucket) {
	if head := s.buckets.get(b.hash); head == b {
		if b.chain == nil {
			s.buckets.del(b.hash)
		} else {
			s.buckets.set(b.hash, b.chain)
		}
		return
	}
	for q := s.buckets.get(b.hash); q != nil; q = q.chain {
		if q.chain == b {
			q.chain = b.chain
			return
		}
	}
}

func atSize(e *atEntry) int64 {
	n := atOverhead + int64(len(e.home)+len(e.secret)+len(e.target))
	if r := e.rare; r != nil {
		n += atRareOverhead + int64(len(r.key)) + extraSize(r.extra)
	}
	return n
}

func extraSize(m map[string]json.RawMessage) int64 {
	var n int64
	for k, v := range m {
		n += int64(len(k)+len(v)) + 48
	}
	return n
}

// newATEntry makes the cache's form of t for bucket b (not yet linked).
func newATEntry(b *bucket, key string, t AccessToken) *atEntry {
	e := new(atEntry)
	target := t.Target
	if blk := b.part.blk; blk != nil && b == &blk.b && b.head == nil && blk.e.b == nil {
		e = &blk.e
		target = blk.inline(target)
	}
	secret, secretAt := t.Secret, uint8(0)
	if b.tokenType == "bearer" && secret != "" {
		// Built once, here: every hit hands it out as it is.
		secret, secretAt = bearerPrefix+secret, uint8(len(bearerPrefix))
	}
	*e = atEntry{
		expiresOn: unixOf(t.ExpiresOn),
		cachedAt:  unixOf(t.CachedAt),
		target:    target,
		secret:    secret,
		secretAt:  secretAt,
		b:         b,
		home:      t.HomeAccountID,
		refreshOn: unixOf(t.RefreshOn),
		extExpOn:  unixOf(t.ExtendedExpiresOn),
		heapIdx:   -1,
	}
	if e.home == b.part.id.a {
		e.home = b.part.id.a // share the partition's copy
	}
	if key != "" || t.Environment != b.env || t.CredentialType != CredentialTypeAccessToken ||
		t.TokenType != displayTokenType(b.tokenType) || len(t.Extra) > 0 {
		e.rare = &atRare{key: key, env: t.Environment, credType: t.CredentialType, tokenType: t.TokenType, extra: t.Extra}
	}
	return e
}

// displayTokenType is how a normalized token type is written when nothing
// else was recorded.
func displayTokenType(norm string) string {
	if norm == "bearer" {
		return TokenTypeBearer
	}
	return norm
}

// insertAT puts t in its bucket (making the bucket as needed) without
// replacing anything.
func (c *Cache) insertAT(s *shard, p *partition, key string, t AccessToken) *atEntry {
	env := canonEnv(t.Environment)
	tt := normTokenType(t.TokenType)
	b := c.bucketOrNew(s, c.hashBucket(p.hash, t.Realm, t.ClientID), p, env, t.Realm, t.ClientID, tt, t.KeyID)
	e := newATEntry(b, key, t)
	e.next = b.head
	b.head = e
	s.heapPush(e)
	c.count(p, atSize(e))
	c.gen.Add(1)
	return e
}

// removeAT drops e; its bucket goes when empty, its partition too when
// empty and not loaded.
func (c *Cache) removeAT(s *shard, e *atEntry) {
	b := e.b
	if b.head == e {
		b.head = e.next
	} else {
		for q := b.head; q != nil; q = q.next {
			if q.next == e {
				q.next = e.next
				break
			}
		}
	}
	e.next = nil
	s.heapRemove(e)
	c.gen.Add(1)
	p := b.part
	c.count(p, -atSize(e))
	if b.head == nil {
		s.dropBucket(b)
		if p.buckets == b {
			p.buckets = b.pnext
		} else {
			for q := p.buckets; q != nil; q = q.pnext {
				if q.pnext == b {
					q.pnext = b.pnext
					break
				}
			}
		}
		sz := bucketSize(b)
		p.size -= sz
		c.bytes.Add(-sz)
	}
	c.dropIfEmpty(s, p)
}

func (e *atEntry) key() string {
	if e.rare != nil {
		return e.rare.key
	}
	return ""
}

func (e *atEntry) export() AccessToken {
	b := e.b
	t := AccessToken{
		HomeAccountID:     e.home,
		Environment:       b.env,
		Realm:             b.realm,
		ClientID:          b.client,
		CredentialType:    CredentialTypeAccessToken,
		Target:            e.target,
		Secret:            e.token(),
		CachedAt:          unixTime(e.cachedAt),
		ExpiresOn:         unixTime(e.expiresOn),
		ExtendedExpiresOn: unixTime(e.extExpOn),
		RefreshOn:         unixTime(e.refreshOn),
		TokenType:         displayTokenType(b.tokenType),
		KeyID:             b.keyID,
	}
	if e.secretAt > 0 {
		t.Authorization = e.secret
	}
	if b.part.id.kind == kindOBO {
		t.UserAssertionHash = b.part.id.a
	}
	if r := e.rare; r != nil {
		t.Environment, t.CredentialType, t.TokenType = r.env, r.credType, r.tokenType
		if r.extra != nil {
			t.Extra = maps.Clone(r.extra)
		}
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

// ---- refresh tokens, ID tokens, accounts (callers hold s.mu)

func (c *Cache) addRT(p *partition, key string, t RefreshToken) *rtEntry {
	e := &rtEntry{t: t, key: key, env: canonEnv(t.Environment)}
	x := c.ext(p)
	x.rts = append(x.rts, e)
	c.count(p, rtSize(e))
	return e
}

func rtSize(e *rtEntry) int64 {
	t := &e.t
	return rtOverhead + strSize(e.key, t.HomeAccountID, t.ClientID, t.FamilyID, t.Secret, t.Realm, t.Target, t.UserAssertionHash) + extraSize(t.Extra)
}

func (c *Cache) removeRT(p *partition, i int) {
	c.count(p, -rtSize(p.x.rts[i]))
	p.x.rts = slices.Delete(p.x.rts, i, i+1)
}

func (c *Cache) addIDT(p *partition, key string, t IDToken) *idtEntry {
	e := &idtEntry{t: t, key: key, env: canonEnv(t.Environment)}
	x := c.ext(p)
	x.idts = append(x.idts, e)
	c.count(p, idtSize(e))
	return e
}

func idtSize(e *idtEntry) int64 {
	t := &e.t
	return idtOverhead + strSize(e.key, t.HomeAccountID, t.Realm, t.ClientID, t.Secret, t.UserAssertionHash) + extraSize(t.Extra)
}

func (c *Cache) removeIDT(p *partition, i int) {
	c.count(p, -idtSize(p.x.idts[i]))
	p.x.idts = slices.Delete(p.x.idts, i, i+1)
}

func (c *Cache) addAccount(p *partition, key string, a Account) *acctEntry {
	e := &acctEntry{a: a, key: key, env: canonEnv(a.Environment)}
	x := c.ext(p)
	x.accts = append(x.accts, e)
	c.count(p, acctSize(e))
	if p.id.kind == kindUser {
		c.idxMu.Lock()
		c.indexAccount(p, e)
		c.idxMu.Unlock()
	}
	return e
}

func acctSize(e *acctEntry) int64 {
	a := &e.a
	return acctOverhead + strSize(e.key, a.HomeAccountID, a.Realm, a.LocalAccountID, a.Username, a.Name, a.GivenName,
		a.FamilyName, a.MiddleName, a.AlternativeAccountID, a.ClientInfo, a.UserAssertionHash) + extraSize(a.Extra)
}

func (c *Cache) removeAccount(p *partition, i int) {
	e := p.x.accts[i]
	c.count(p, -acctSize(e))
	p.x.accts = slices.Delete(p.x.accts, i, i+1)
	if p.id.kind == kindUser {
		c.idxMu.Lock()
		c.unindexAccount(p, e)
		c.idxMu.Unlock()
	}
}

func strSize(ss ...string) int64 {
	var n int
	for _, s := range ss {
		n += len(s)
	}
	return int64(n)
}
