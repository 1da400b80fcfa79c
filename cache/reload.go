package cache

import (
	"context"
	"time"
)

// ReadPartition reads partition from the store again, even when memory
// has read it already, and merges what the store holds into memory:
//
//   - a stored access token replaces the ones in memory it would replace
//     (same environment, realm, client, token type and key ID, scopes
//     intersecting) when it expires later than each of them; it is skipped
//     otherwise, and when it has expired at now;
//   - refresh tokens, ID tokens, accounts and app metadata that memory
//     lacks (by key) are added; those memory has stay as they are.
//
// It is how a process picks up what another process sharing the store has
// just written: flow calls it after waiting for another process's lease
// (see [Leaser]). A Load that a write-through of the partition overlapped
// is not merged (it may predate a removal). Store failures are returned
// as a [*StoreError] (and logged); with no store, ReadPartition does
// nothing.
func (c *Cache) ReadPartition(ctx context.Context, partition string, now time.Time) error {
	if c.store == nil {
		return nil
	}
	pid := parsePartitionName(partition)
	ph := c.hashPart(pid)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	s.mu.Lock()
	m := c.traffic[si].startLoad(pid)
	s.mu.Unlock()
	data, err := c.store.Load(ctx, partition)
	var d *document
	if err == nil {
		d, err = decodeDocument(data)
	}
	if err != nil {
		s.mu.Lock()
		c.traffic[si].endLoad(pid)
		s.mu.Unlock()
		se := &StoreError{Op: "load", Err: err}
		c.logStoreError(ctx, se, pid.kind)
		return se
	}
	c.mergeNewer(pid, ph, si, d, now, m)
	return nil
}

// mergeNewer merges d into partition pid as ReadPartition says, unless a
// write-through overlapped the Load marked m.
func (c *Cache) mergeNewer(pid partID, ph uint64, si int, d *document, now time.Time, m *loadMark) {
	s := &c.shards[si]
	s.mu.Lock()
	c.traffic[si].endLoad(pid)
	if m.stale {
		s.mu.Unlock()
		return
	}
	p := c.partOrNew(s, pid, ph, false)
	p.loaded = true
	nowSec := now.Unix()
	for _, e := range d.ats {
		t := e.v
		if partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm) != pid || unixOf(t.ExpiresOn) <= nowSec {
			continue
		}
		env, tt := canonEnv(t.Environment), normTokenType(t.TokenType)
		exp := unixOf(t.ExpiresOn)
		b := s.findBucket(c.hashBucket(ph, t.Realm, t.ClientID), pid, env, t.Realm, t.ClientID, tt, t.KeyID)
		newer := true
		if b != nil {
			for o := b.head; o != nil; o = o.next {
				if targetsIntersect(o.target, t.Target) && o.expiresOn >= exp {
					newer = false
					break
				}
			}
		}
		if !newer {
			continue
		}
		ne := c.insertAT(s, p, e.key, t)
		for o := ne.b.head; o != nil; {
			next := o.next
			if o != ne && targetsIntersect(o.target, ne.target) {
				c.removeAT(s, o)
			}
			o = next
		}
	}
	c.addStoredEntries(p, pid, d, heldKeys(p, false))
	s.touch(p)
	s.mu.Unlock()
	c.addStoredMeta(d)
	c.enforce(si, p)
}
