package cache

import (
	"context"
	"errors"
)

// RemoveAccount removes an account and its tokens, as MSAL's RemoveAccount
// does: at the account's environment (any alias), every entry of the
// account (all realms), every access token and ID token of its home
// account ID, and its refresh tokens of clientID or of any family. Refresh
// tokens of other, non-family apps sharing the cache stay.
//
// It costs what the account's partition holds. With a [Store], the
// partition's stored document is updated too; a store failure is logged
// and returned as a [*StoreError] (memory is cleared regardless).
func (c *Cache) RemoveAccount(ctx context.Context, a Account, clientID string) error {
	if a.HomeAccountID == "" && a.UserAssertionHash == "" {
		return nil
	}
	pid := partitionOf(a.UserAssertionHash, a.HomeAccountID, "", "")
	ph := c.hashPart(pid)
	env := canonEnv(a.Environment)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	s.mu.Lock()
	if p := s.part(pid, ph); p != nil {
		c.removeAccountEntries(s, p, env, a.HomeAccountID, clientID)
	}
	if c.store != nil {
		c.traffic[si].startWrite(pid)
	}
	s.mu.Unlock()
	return c.writeThrough(ctx, pid, si, func(d *document) { d.removeAccount(env, a.HomeAccountID, clientID) })
}

func (c *Cache) removeAccountEntries(s *shard, p *partition, env, home, clientID string) {
	p.loaded = false // what the store holds after the update is re-read on a miss
	var doomed []*atEntry
	for b := p.buckets; b != nil; b = b.pnext {
		if b.env != env {
			continue
		}
		for e := b.head; e != nil; e = e.next {
			if e.home == home {
				doomed = append(doomed, e)
			}
		}
	}
	for i := 0; i < len(p.rts()); {
		e := p.x.rts[i]
		if e.env == env && e.t.HomeAccountID == home && (e.t.ClientID == clientID || e.t.FamilyID != "") {
			c.removeRT(p, i)
			continue
		}
		i++
	}
	for i := 0; i < len(p.idts()); {
		e := p.x.idts[i]
		if e.env == env && e.t.HomeAccountID == home {
			c.removeIDT(p, i)
			continue
		}
		i++
	}
	for i := 0; i < len(p.accts()); {
		e := p.x.accts[i]
		if e.env == env && e.a.HomeAccountID == home {
			c.removeAccount(p, i)
			continue
		}
		i++
	}
	if len(doomed) == 0 {
		c.dropIfEmpty(s, p)
	}
	for _, e := range doomed {
		c.removeAT(s, e) // the last one drops p when it is empty
	}
}

func (d *document) removeAccount(env, home, clientID string) {
	same := func(e string) bool { return canonEnv(e) == env }
	d.ats = deleteKeyed(d.ats, func(t *AccessToken) bool { return same(t.Environment) && t.HomeAccountID == home })
	d.rts = deleteKeyed(d.rts, func(t *RefreshToken) bool {
		return same(t.Environment) && t.HomeAccountID == home && (t.ClientID == clientID || t.FamilyID != "")
	})
	d.idts = deleteKeyed(d.idts, func(t *IDToken) bool { return same(t.Environment) && t.HomeAccountID == home })
	d.accts = deleteKeyed(d.accts, func(a *Account) bool { return same(a.Environment) && a.HomeAccountID == home })
}

// RemoveAppTokens removes the app tokens (client credentials) of clientID:
// of one tenant, or of every tenant when tenant is empty. It costs what it
// removes (app partitions are indexed by client).
//
// With a [Store], the stored partitions are updated too: the tenant's, or,
// when tenant is empty, those this cache has held (the Store cannot be
// searched by client). Store failures are logged and returned, joined,
// as [*StoreError] values.
func (c *Cache) RemoveAppTokens(ctx context.Context, clientID, tenant string) error {
	var pids []partID
	if tenant != "" {
		pids = []partID{{kind: kindApp, a: clientID, b: tenant}}
	} else {
		c.idxMu.Lock()
		for p := range c.appParts[clientID] {
			pids = append(pids, p.id)
		}
		c.idxMu.Unlock()
	}
	var errs []error
	for _, pid := range pids {
		ph := c.hashPart(pid)
		si := c.shardIndex(ph)
		s := &c.shards[si]
		s.mu.Lock()
		if p := s.part(pid, ph); p != nil {
			c.removePartition(s, p)
		}
		if c.store != nil {
			c.traffic[si].startWrite(pid)
		}
		s.mu.Unlock()
		err := c.writeThrough(ctx, pid, si, func(d *document) {
			d.ats = deleteKeyed(d.ats, func(t *AccessToken) bool {
				return t.ClientID == clientID && partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm) == pid
			})
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
