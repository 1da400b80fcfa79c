package cache

import (
	"maps"
)

// MarshalMSAL returns everything the cache holds in memory as MSAL unified
// cache JSON, which MSAL Go and MSAL Python read: the five sections
// (AccessToken, RefreshToken, IdToken, Account, AppMetadata), timestamps as
// strings of Unix seconds, keys in MSAL Go's format (entries read by
// [Cache.UnmarshalMSAL] keep the key they were read under), and the
// entries, fields and sections last read that this package does not
// understand, unchanged. Expired access tokens still in memory are
// included: whether they are usable is the reader's decision at its time.
func (c *Cache) MarshalMSAL() ([]byte, error) {
	d := &document{}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for p := s.head; p != nil; p = p.older {
			for b := p.buckets; b != nil; b = b.pnext {
				for e := b.head; e != nil; e = e.next {
					d.ats = append(d.ats, keyed[AccessToken]{e.key(), e.export()})
				}
			}
			for _, e := range p.rts() {
				d.rts = append(d.rts, keyed[RefreshToken]{e.key, e.export()})
			}
			for _, e := range p.idts() {
				t := e.t
				t.Extra = maps.Clone(t.Extra)
				d.idts = append(d.idts, keyed[IDToken]{e.key, t})
			}
			for _, e := range p.accts() {
				a := e.a
				a.Extra = maps.Clone(a.Extra)
				d.accts = append(d.accts, keyed[Account]{e.key, a})
			}
		}
		s.mu.Unlock()
	}
	c.metaMu.RLock()
	for _, e := range c.meta {
		d.meta = append(d.meta, keyed[AppMetadata]{e.key, e.m})
	}
	c.metaMu.RUnlock()
	c.extraMu.Lock()
	d.opaque = c.opaque
	d.unknown = c.unknown
	c.extraMu.Unlock()
	return d.encode()
}

// UnmarshalMSAL replaces the cache's contents with the MSAL unified cache
// JSON in data, as MSAL's Unmarshal does (it does not merge). It reads what
// every MSAL writes: timestamps as strings or numbers, other languages' key
// formats, "IDToken" and "IdToken", v1.0 mixed-case keys (of two keys equal
// once lower-cased, the lower-case one wins), MSAL Node's camelCase
// userAssertionHash; and what tools around them leave: a leading UTF-8 BOM,
// a section that is null or an empty array. Entries are indexed by their
// fields, not their keys. Entries too incomplete to use (no secret, no
// client ID, not an object), unknown fields and unknown sections are kept
// for [Cache.MarshalMSAL].
//
// Nothing is dropped for expiry here (UnmarshalMSAL has no clock): expired
// access tokens are never served, and go at the next lookup that meets
// them or [Cache.Sweep]. The caps apply: when data holds more than the
// cache may, some partitions are evicted. Nothing is written to the
// [Store]; the partitions read are still read through from it on a miss.
//
// On error (input that is not one JSON object, a known section that is
// neither an object, null nor an empty array, text that is not UTF-8; see
// [ErrMalformed]) the cache is left unchanged.
func (c *Cache) UnmarshalMSAL(data []byte) error {
	d, err := decodeDocument(data)
	if err != nil {
		return err
	}
	for i := range c.shards {
		c.shards[i].mu.Lock()
	}
	c.idxMu.Lock()
	c.resetIndexes()
	c.idxMu.Unlock()
	for i := range c.shards {
		c.shards[i].init()
	}
	c.gen.Add(1)
	c.entries.Store(0)
	c.bytes.Store(0)
	c.nparts.Store(0)
	var last *partition
	lastShard := 0
	part := func(assertion, home, client, realm string) *partition {
		pid := partitionOf(assertion, home, client, realm)
		ph := c.hashPart(pid)
		lastShard = c.shardIndex(ph)
		last = c.partOrNew(&c.shards[lastShard], pid, ph, false)
		return last
	}
	for _, e := range d.ats {
		t := e.v
		p := part(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm)
		c.insertAT(&c.shards[lastShard], p, e.key, t)
	}
	for _, e := range d.rts {
		c.addRT(part(e.v.UserAssertionHash, e.v.HomeAccountID, e.v.ClientID, e.v.Realm), e.key, e.v)
	}
	for _, e := range d.idts {
		c.addIDT(part(e.v.UserAssertionHash, e.v.HomeAccountID, e.v.ClientID, e.v.Realm), e.key, e.v)
	}
	for _, e := range d.accts {
		c.addAccount(part(e.v.UserAssertionHash, e.v.HomeAccountID, "", e.v.Realm), e.key, e.v)
	}
	for i := len(c.shards) - 1; i >= 0; i-- {
		c.shards[i].mu.Unlock()
	}
	meta := make([]*metaEntry, 0, len(d.meta))
	for _, e := range d.meta {
		meta = append(meta, &metaEntry{m: e.v, key: e.key, env: canonEnv(e.v.Environment)})
	}
	c.metaMu.Lock()
	c.meta = meta
	c.metaMu.Unlock()
	c.extraMu.Lock()
	c.opaque, c.unknown = d.opaque, d.unknown
	c.extraMu.Unlock()
	if last != nil {
		c.enforce(lastShard, nil)
	}
	return nil
}
