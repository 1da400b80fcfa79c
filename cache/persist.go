package cache

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// readThrough reads partition pid from the store and merges it into
// memory. Concurrent calls for one partition share one Load. The load
// outlives a cancelled caller (capped by loadTimeout), so the goroutines
// sharing it still get it.
//
// A write-through of the partition (its memory changed, then its stored
// document) that overlaps a Load makes what the Load read possibly older
// than memory: merged, it would bring back what the write removed or
// replaced. Such a Load is not merged but made again, up to maxLoads
// times; after that the partition stays unread and the lookup misses.
func (c *Cache) readThrough(ctx context.Context, pid partID, ph uint64, si int, now time.Time) {
	name := partitionName(pid)
	flightKey := string(rune('0'+pid.kind)) + name
	ch := c.loads.DoChan(flightKey, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
		defer cancel()
		s := &c.shards[si]
		for range maxLoads {
			// A caller that saw the partition unread may start its flight
			// after another flight has read it: no second Load then.
			s.mu.Lock()
			p := s.part(pid, ph)
			if p != nil && p.loaded {
				s.mu.Unlock()
				return nil, nil
			}
			m := c.traffic[si].startLoad(pid)
			s.mu.Unlock()
			data, err := c.store.Load(lctx, name)
			var d *document
			if err == nil {
				d, err = decodeDocument(data)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				s.mu.Lock()
				c.traffic[si].endLoad(pid)
				s.mu.Unlock()
				c.logStoreError(ctx, &StoreError{Op: "load", Err: err}, pid.kind)
				return nil, err
			}
			if err != nil {
				// A stored document that does not decode (or that the
				// store found malformed) is read as empty: the partition
				// counts as read, so lookups that miss do not read and
				// report it again and again, and memory serves what it
				// holds. Writes leave the document as it is (see
				// writeThrough). The choice: a document repaired by hand
				// is seen once the partition leaves memory, not sooner.
				c.logStoreError(ctx, &StoreError{Op: "load", Err: err}, pid.kind)
				d = &document{}
			}
			if c.mergeLoaded(pid, ph, si, d, now, m) {
				return nil, nil
			}
		}
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// maxLoads bounds the Loads of one read-through whose Loads overlap
// write-throughs of the partition.
const maxLoads = 3

// storeTraffic is what read-throughs need to know of the write-throughs
// of one shard's partitions. The shard's lock guards it.
type storeTraffic struct {
	writing map[partID]int       // write-throughs under way: memory changed, the store not yet
	loading map[partID]*loadMark // read-through Loads under way
}

// loadMark tells a read-through Load that a write-through of its partition
// overlapped it.
type loadMark struct{ stale bool }

// startLoad notes a Load of pid. A write-through under way makes it stale
// from the start: the store may not hold its changes yet.
func (t *storeTraffic) startLoad(pid partID) *loadMark {
	m := &loadMark{stale: t.writing[pid] > 0}
	if t.loading == nil {
		t.loading = make(map[partID]*loadMark)
	}
	t.loading[pid] = m
	return m
}

func (t *storeTraffic) endLoad(pid partID) { delete(t.loading, pid) }

// startWrite notes a write-through of pid, as its memory changes (under
// the shard's lock): a Load under way may have read the store before.
func (t *storeTraffic) startWrite(pid partID) {
	if t.writing == nil {
		t.writing = make(map[partID]int)
	}
	t.writing[pid]++
	if m := t.loading[pid]; m != nil {
		m.stale = true
	}
}

// endWrite notes that a write-through of pid has reached the store (or
// failed): a Load under way may have read the store before.
func (c *Cache) endWrite(si int, pid partID) {
	s := &c.shards[si]
	s.mu.Lock()
	t := &c.traffic[si]
	if t.writing[pid]--; t.writing[pid] <= 0 {
		delete(t.writing, pid)
	}
	if m := t.loading[pid]; m != nil {
		m.stale = true
	}
	s.mu.Unlock()
}

// findInPart runs find on partition pid under its shard lock, when memory
// holds the partition, and reports what find reported; a partition find
// found something in becomes most recently used. When find found nothing
// and the partition has not been read from the store, it is read through
// and find runs once more.
func (c *Cache) findInPart(ctx context.Context, pid partID, find func(p *partition) bool) bool {
	ph := c.hashPart(pid)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		p := s.part(pid, ph)
		found := p != nil && find(p)
		if found {
			s.touch(p)
		}
		loaded := p != nil && p.loaded
		s.mu.Unlock()
		if found || loaded || attempt > 0 || c.store == nil {
			return found
		}
		c.readThrough(ctx, pid, ph, si, time.Time{})
	}
}

// loadedPart returns partition pid, first reading it through the store
// when memory has not read it yet; nil when there is none. Callers lock
// its shard to read it.
func (c *Cache) loadedPart(ctx context.Context, pid partID) *partition {
	ph := c.hashPart(pid)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	s.mu.Lock()
	p := s.part(pid, ph)
	loaded := p != nil && p.loaded
	s.mu.Unlock()
	if loaded || c.store == nil {
		return p
	}
	c.readThrough(ctx, pid, ph, si, time.Time{})
	s.mu.Lock()
	p = s.part(pid, ph)
	s.mu.Unlock()
	return p
}

// mergeLoaded adds the entries of d, read by the Load marked m, that
// belong to partition pid to memory and marks the partition loaded.
// Entries already in memory under the same key win (memory is written
// through, so it is never older). Access tokens expired at now are
// skipped (none when now is zero). It merges nothing, and reports false,
// when a write-through of the partition overlapped the Load.
func (c *Cache) mergeLoaded(pid partID, ph uint64, si int, d *document, now time.Time, m *loadMark) bool {
	s := &c.shards[si]
	s.mu.Lock()
	c.traffic[si].endLoad(pid)
	if m.stale {
		s.mu.Unlock()
		return false
	}
	p := c.partOrNew(s, pid, ph, false)
	p.loaded = true
	have := heldKeys(p, true)
	nowSec := now.Unix()
	for _, e := range d.ats {
		t := e.v
		if partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm) != pid {
			continue
		}
		if !now.IsZero() && unixOf(t.ExpiresOn) <= nowSec {
			continue
		}
		if have.fresh(e.key, t.Key) {
			c.insertAT(s, p, e.key, t)
		}
	}
	c.addStoredEntries(p, pid, d, have)
	s.touch(p)
	s.mu.Unlock()
	c.addStoredMeta(d)
	c.enforce(si, p)
	return true
}

// entryKeys holds the lower-cased MSAL keys of a partition's entries, so
// that merging a stored document into it adds no entry twice.
type entryKeys map[string]struct{}

// heldKeys returns the keys of p's refresh tokens, ID tokens and
// accounts, and with withATs of its access tokens too.
func heldKeys(p *partition, withATs bool) entryKeys {
	have := make(entryKeys)
	if withATs {
		for b := p.buckets; b != nil; b = b.pnext {
			for e := b.head; e != nil; e = e.next {
				have[strings.ToLower(orKey(e.key(), e.export().Key))] = struct{}{}
			}
		}
	}
	for _, e := range p.rts() {
		have[strings.ToLower(orKey(e.key, e.t.Key))] = struct{}{}
	}
	for _, e := range p.idts() {
		have[strings.ToLower(orKey(e.key, e.t.Key))] = struct{}{}
	}
	for _, e := range p.accts() {
		have[strings.ToLower(orKey(e.key, e.a.Key))] = struct{}{}
	}
	return have
}

// fresh reports whether an entry's key (key, else gen's) is not held yet,
// and holds it from then on.
func (have entryKeys) fresh(key string, gen func() string) bool {
	k := strings.ToLower(orKey(key, gen))
	if _, dup := have[k]; dup {
		return false
	}
	have[k] = struct{}{}
	return true
}

// addStoredEntries adds d's refresh tokens, ID tokens and accounts of
// partition pid to p, those whose key have does not hold. The caller
// holds p's shard lock.
func (c *Cache) addStoredEntries(p *partition, pid partID, d *document, have entryKeys) {
	for _, e := range d.rts {
		if partitionOf(e.v.UserAssertionHash, e.v.HomeAccountID, e.v.ClientID, e.v.Realm) == pid && have.fresh(e.key, e.v.Key) {
			c.addRT(p, e.key, e.v)
		}
	}
	for _, e := range d.idts {
		if partitionOf(e.v.UserAssertionHash, e.v.HomeAccountID, e.v.ClientID, e.v.Realm) == pid && have.fresh(e.key, e.v.Key) {
			c.addIDT(p, e.key, e.v)
		}
	}
	for _, e := range d.accts {
		if partitionOf(e.v.UserAssertionHash, e.v.HomeAccountID, "", e.v.Realm) == pid && have.fresh(e.key, e.v.Key) {
			c.addAccount(p, e.key, e.v)
		}
	}
}

// addStoredMeta adds d's app metadata of apps the cache has none of.
func (c *Cache) addStoredMeta(d *document) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	for _, e := range d.meta {
		env := canonEnv(e.v.Environment)
		known := false
		for _, m := range c.meta {
			if m.env == env && m.m.ClientID == e.v.ClientID {
				known = true
				break
			}
		}
		if !known {
			c.meta = append(c.meta, &metaEntry{m: e.v, key: e.key, env: env})
		}
	}
}

// writeThrough applies edit to partition pid's stored document. A store
// failure is logged and returned as a *StoreError. A stored document that
// does not decode is never replaced: it may hold what other apps and
// other MSAL libraries stored (their refresh tokens), so the Update fails
// with an error wrapping ErrMalformed and stores nothing. What decodes is
// written back with everything it held; a leading BOM is dropped (MSAL
// Python cannot read one). The caller changed memory, in shard si, with
// c.traffic[si].startWrite(pid) under the same lock.
func (c *Cache) writeThrough(ctx context.Context, pid partID, si int, edit func(d *document)) error {
	if c.store == nil {
		return nil
	}
	defer c.endWrite(si, pid)
	err := c.store.Update(ctx, partitionName(pid), func(old []byte) ([]byte, error) {
		d, err := decodeDocument(old)
		if err != nil {
			return nil, err
		}
		edit(d)
		return d.encode()
	})
	if err != nil {
		se := &StoreError{Op: "update", Err: err}
		c.logStoreError(ctx, se, pid.kind)
		return se
	}
	return nil
}

func (c *Cache) logStoreError(ctx context.Context, err *StoreError, kind partKind) {
	msg := "cache: store failed; serving from memory"
	if errors.Is(err, ErrMalformed) {
		msg = "cache: stored document does not decode; left as it is, serving from memory"
	}
	level := slog.LevelWarn
	if errors.Is(err.Err, ErrStoreUnavailable) {
		level = slog.LevelDebug // the store reports its outage itself, once
	}
	c.log.LogAttrs(ctx, level, msg,
		slog.String("op", err.Op),
		slog.String("partition_kind", kind.String()),
		slog.String("error", err.Err.Error()))
}

func (k partKind) String() string {
	switch k {
	case kindApp:
		return "app"
	case kindUser:
		return "user"
	case kindOBO:
		return "on-behalf-of"
	}
	return "unknown"
}

// apply makes the changes of one token response to a stored document,
// with the replacement rules of [Cache.StoreResponse].
func (d *document) apply(ch *change) {
	if ch.at != nil {
		n := ch.at
		nenv, ntt := canonEnv(n.Environment), normTokenType(n.TokenType)
		npid := partitionOf(n.UserAssertionHash, n.HomeAccountID, n.ClientID, n.Realm)
		d.ats = deleteKeyed(d.ats, func(o *AccessToken) bool {
			return canonEnv(o.Environment) == nenv && o.Realm == n.Realm && o.ClientID == n.ClientID &&
				normTokenType(o.TokenType) == ntt && o.KeyID == n.KeyID &&
				partitionOf(o.UserAssertionHash, o.HomeAccountID, o.ClientID, o.Realm) == npid &&
				targetsIntersect(o.Target, n.Target)
		})
		d.ats = append(d.ats, keyed[AccessToken]{v: *n})
	}
	if ch.rt != nil {
		n := ch.rt
		nenv := canonEnv(n.Environment)
		d.rts = deleteKeyed(d.rts, func(o *RefreshToken) bool {
			return rtReplaces(n, nenv, o, canonEnv(o.Environment))
		})
		d.rts = append(d.rts, keyed[RefreshToken]{v: *n})
	}
	if ch.idt != nil {
		n := ch.idt
		nenv := canonEnv(n.Environment)
		d.idts = deleteKeyed(d.idts, func(o *IDToken) bool {
			return idtReplaces(n, nenv, o, canonEnv(o.Environment))
		})
		d.idts = append(d.idts, keyed[IDToken]{v: *n})
	}
	if ch.acct != nil {
		n := ch.acct
		nenv := canonEnv(n.Environment)
		d.accts = deleteKeyed(d.accts, func(o *Account) bool {
			return acctReplaces(n, nenv, o, canonEnv(o.Environment))
		})
		d.accts = append(d.accts, keyed[Account]{v: *n})
	}
	if ch.meta != nil {
		n := ch.meta
		nenv := canonEnv(n.Environment)
		d.meta = deleteKeyed(d.meta, func(o *AppMetadata) bool {
			return canonEnv(o.Environment) == nenv && o.ClientID == n.ClientID
		})
		d.meta = append(d.meta, keyed[AppMetadata]{v: *n})
	}
	d.dropCollisions(ch)
}

// dropCollisions removes unusable (opaque) entries whose key, lower-cased,
// is the key of an entry just written, so the new one wins.
func (d *document) dropCollisions(ch *change) {
	drop := func(section, key string) {
		key = strings.ToLower(key)
		kvs := d.opaque[section]
		for i := 0; i < len(kvs); {
			if strings.ToLower(kvs[i].key) == key {
				kvs = append(kvs[:i], kvs[i+1:]...)
				continue
			}
			i++
		}
		if d.opaque != nil {
			d.opaque[section] = kvs
		}
	}
	if ch.at != nil {
		drop(sectionAccessToken, ch.at.Key())
	}
	if ch.rt != nil {
		drop(sectionRefreshToken, ch.rt.Key())
	}
	if ch.idt != nil {
		drop(sectionIDToken, ch.idt.Key())
	}
	if ch.acct != nil {
		drop(sectionAccount, ch.acct.Key())
	}
	if ch.meta != nil {
		drop(sectionAppMetadata, ch.meta.Key())
	}
}

func deleteKeyed[T any](s []keyed[T], del func(*T) bool) []keyed[T] {
	out := s[:0]
	for i := range s {
		if !del(&s[i].v) {
			out = append(out, s[i])
		}
	}
	clear(s[len(out):])
	return out
}
