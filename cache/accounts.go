package cache

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
)

// AccountFilter says which accounts [Cache.Accounts] lists. Empty fields
// match everything.
type AccountFilter struct {
	// HomeAccountID lists one user's accounts (one per tenant signed in
	// to); it reads the user's partition through the [Store] if needed.
	HomeAccountID string
	// Username matches case-insensitively.
	Username string
	// Environment matches any alias of the account's cloud.
	Environment string
	// ClientID keeps the accounts that hold a refresh token or ID token of
	// this application (or a refresh token of its family).
	ClientID string
}

// Accounts lists the cached user accounts matching f, sorted by username,
// home account ID, environment and realm. Accounts written by on-behalf-of
// responses are not listed: they belong to the assertion, not to a
// sign-in.
//
// Without HomeAccountID it lists what memory holds; when the [Store]
// implements [PartitionLister] it first reads the user partitions not yet
// in memory, so a restarted app sees the accounts it persisted. It costs
// the number of accounts (or, with Username, of that user's accounts), not
// the number of entries.
func (c *Cache) Accounts(ctx context.Context, f AccountFilter) []Account {
	env := ""
	if f.Environment != "" {
		env = canonEnv(f.Environment)
	}
	var parts []*partition
	if f.HomeAccountID != "" {
		if p := c.loadedPart(ctx, partID{kind: kindUser, a: f.HomeAccountID}); p != nil {
			parts = append(parts, p)
		}
	} else {
		c.loadListedUsers(ctx)
		c.idxMu.Lock()
		if f.Username != "" {
			for p := range c.byUser[strings.ToLower(f.Username)] {
				parts = append(parts, p)
			}
		} else {
			for p := range c.acctParts {
				parts = append(parts, p)
			}
		}
		c.idxMu.Unlock()
	}
	family := ""
	if f.ClientID != "" {
		c.metaMu.RLock()
		for _, m := range c.meta {
			if m.m.ClientID == f.ClientID && (env == "" || m.env == env) && m.m.FamilyID != "" {
				family = m.m.FamilyID
			}
		}
		c.metaMu.RUnlock()
	}
	var out []Account
	for _, p := range parts {
		s := &c.shards[c.shardIndex(p.hash)]
		s.mu.Lock()
		if !p.dead && (f.ClientID == "" || p.heldBy(f.ClientID, family)) {
			for _, e := range p.accts() {
				if env != "" && e.env != env {
					continue
				}
				if f.Username != "" && !strings.EqualFold(e.a.Username, f.Username) {
					continue
				}
				a := e.a
				a.Extra = maps.Clone(a.Extra)
				out = append(out, a)
			}
		}
		s.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Account) int {
		return cmp.Or(
			cmp.Compare(strings.ToLower(a.Username), strings.ToLower(b.Username)),
			cmp.Compare(a.HomeAccountID, b.HomeAccountID),
			cmp.Compare(a.Environment, b.Environment),
			cmp.Compare(a.Realm, b.Realm))
	})
	return out
}

// heldBy reports whether p holds a refresh token or ID token of client (or
// a refresh token of family); callers hold the shard lock.
func (p *partition) heldBy(client, family string) bool {
	for _, e := range p.rts() {
		if e.t.ClientID == client || (family != "" && e.t.FamilyID == family) {
			return true
		}
	}
	for _, e := range p.idts() {
		if e.t.ClientID == client {
			return true
		}
	}
	return false
}

// loadListedUsers reads the user partitions a listing store holds and
// memory has not read yet.
func (c *Cache) loadListedUsers(ctx context.Context) {
	lister, ok := c.store.(PartitionLister)
	if !ok {
		return
	}
	names, err := lister.Partitions(ctx)
	if err != nil {
		c.logStoreError(ctx, &StoreError{Op: "list", Err: err}, kindUser)
		return
	}
	for _, name := range names {
		pid := parsePartitionName(name)
		if pid.kind == kindUser {
			c.loadedPart(ctx, pid)
		}
	}
}
