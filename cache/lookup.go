package cache

import (
	"context"
	"maps"
	"time"
)

// AccessTokenQuery says which access token [Cache.AccessToken] looks for.
// Leave HomeAccountID and UserAssertionHash empty for an app's own tokens
// (client credentials).
type AccessTokenQuery struct {
	// Environment is the authority host, any alias of its cloud.
	Environment string
	// Realm is the tenant, compared exactly.
	Realm string
	// ClientID is the application, compared exactly.
	ClientID string
	// HomeAccountID selects a user's tokens.
	HomeAccountID string
	// UserAssertionHash selects on-behalf-of tokens: [AssertionHash] of the
	// user's assertion.
	UserAssertionHash string
	// Scopes are the scopes the token must have (it may have more).
	// openid, offline_access and profile are ignored unless nothing else
	// is asked for; no scope at all matches nothing.
	Scopes []string
	// TokenType is the token type wanted; empty means Bearer. Compared
	// case-insensitively.
	TokenType string
	// KeyID is the proof-of-possession key the token must be bound to;
	// empty for bearer tokens.
	KeyID string
	// CaseInsensitiveScopes compares scopes case-insensitively: set it for
	// Entra authorities (Entra's rule), leave it unset for others (RFC 6749).
	CaseInsensitiveScopes bool
}

// AccessToken returns a cached access token for q that is usable at now
// (see [AccessToken.Usable]), and whether there was one. Tokens it meets
// that have expired are dropped.
//
// When the cache has a [Store] and the identity's partition has not been
// read from it yet, a miss reads the partition (once, however many
// goroutines miss at the same time), merges it and looks again. A store
// failure is logged and counts as a miss.
//
// A hit costs a hash lookup and a scan of the scope sets cached for the
// same partition, environment, realm, client, token type and key ID, and
// allocates nothing (unless the token carries unknown fields).
func (c *Cache) AccessToken(ctx context.Context, q AccessTokenQuery, now time.Time) (AccessToken, bool) {
	pid := partitionOf(q.UserAssertionHash, q.HomeAccountID, q.ClientID, q.Realm)
	ph := c.hashPart(pid)
	env := canonEnv(q.Environment)
	tt := normTokenType(q.TokenType)
	bh := c.hashBucket(ph, q.Realm, q.ClientID)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		t, ok, loaded := c.findAT(s, bh, pid, ph, env, tt, &q, now)
		s.mu.Unlock()
		if ok || loaded || attempt > 0 || c.store == nil {
			return t, ok
		}
		c.readThrough(ctx, pid, ph, si, now)
	}
}

// findAT looks q up in s (locked), reporting also whether the partition
// was read from the store.
func (c *Cache) findAT(s *shard, bh uint64, pid partID, ph uint64, env, tt string, q *AccessTokenQuery, now time.Time) (AccessToken, bool, bool) {
	b := s.findBucket(bh, pid, env, q.Realm, q.ClientID, tt, q.KeyID)
	if b == nil {
		p := s.part(pid, ph)
		return AccessToken{}, false, p != nil && p.loaded
	}
	p := b.part
	nowSec := now.Unix()
	for e := b.head; e != nil; {
		next := e.next
		if e.expiresOn <= nowSec {
			c.removeAT(s, e) // may drop b and p; next is still valid
		} else if usableAt(e.cachedAt, e.expiresOn, now) && targetCovers(e.target, q.Scopes, q.CaseInsensitiveScopes) {
			s.touch(p)
			return e.export(), true, true
		}
		e = next
	}
	return AccessToken{}, false, p.loaded && !p.dead
}

// RefreshTokenQuery says which refresh token [Cache.RefreshToken] looks
// for. One of HomeAccountID and UserAssertionHash is needed.
type RefreshTokenQuery struct {
	// Environment is the authority host, any alias of its cloud.
	Environment string
	// ClientID is the application asking.
	ClientID string
	// FamilyID is the app's family ([FamilyFOCI]). Empty means the family
	// recorded in the cached app metadata of ClientID, if any.
	FamilyID string
	// HomeAccountID selects a user's token.
	HomeAccountID string
	// UserAssertionHash selects an on-behalf-of token.
	UserAssertionHash string
	// OwnOnly skips the family's token: only ClientID's own is returned
	// (for a caller whose family token the authority refused).
	OwnOnly bool
}

// RefreshToken returns a cached refresh token for q: when the app has a
// family, the family's token first (any app of the family may redeem it),
// then the app's own, as MSAL looks them up. Refresh tokens have no expiry
// and are never dropped for age. It reads through the [Store] like
// [Cache.AccessToken].
func (c *Cache) RefreshToken(ctx context.Context, q RefreshTokenQuery) (RefreshToken, bool) {
	if q.HomeAccountID == "" && q.UserAssertionHash == "" {
		return RefreshToken{}, false
	}
	env := canonEnv(q.Environment)
	var t RefreshToken
	found := c.findInPart(ctx, partitionOf(q.UserAssertionHash, q.HomeAccountID, "", ""), func(p *partition) bool {
		// Read on every try: a partition read from the store brings the
		// app metadata stored with it.
		family := q.FamilyID
		if family == "" {
			if m, ok := c.appMetadata(env, q.ClientID); ok {
				family = m.FamilyID
			}
		}
		if q.OwnOnly {
			family = ""
		}
		e := p.findRT(env, q.ClientID, family)
		if e != nil {
			t = e.export()
		}
		return e != nil
	})
	return t, found
}

func (p *partition) findRT(env, client, family string) *rtEntry {
	if family != "" {
		for _, e := range p.rts() {
			if e.env == env && e.t.FamilyID == family {
				return e
			}
		}
	}
	for _, e := range p.rts() {
		if e.env == env && e.t.ClientID == client {
			return e
		}
	}
	return nil
}

func (e *rtEntry) export() RefreshToken {
	t := e.t
	t.Extra = maps.Clone(t.Extra)
	return t
}

// IDTokenQuery says which ID token [Cache.IDToken] looks for. One of
// HomeAccountID and UserAssertionHash is needed.
type IDTokenQuery struct {
	// Environment is the authority host, any alias of its cloud.
	Environment string
	// Realm is the tenant.
	Realm string
	// ClientID is the application.
	ClientID string
	// HomeAccountID selects a user's token.
	HomeAccountID string
	// UserAssertionHash selects an on-behalf-of response's token.
	UserAssertionHash string
}

// IDToken returns the cached ID token for q. It reads through the [Store]
// like [Cache.AccessToken].
func (c *Cache) IDToken(ctx context.Context, q IDTokenQuery) (IDToken, bool) {
	if q.HomeAccountID == "" && q.UserAssertionHash == "" {
		return IDToken{}, false
	}
	env := canonEnv(q.Environment)
	var t IDToken
	found := c.findInPart(ctx, partitionOf(q.UserAssertionHash, q.HomeAccountID, "", ""), func(p *partition) bool {
		for _, e := range p.idts() {
			if e.env == env && e.t.Realm == q.Realm && e.t.ClientID == q.ClientID {
				t = e.t
				t.Extra = maps.Clone(t.Extra)
				return true
			}
		}
		return false
	})
	return t, found
}

// AppMetadata returns the cached app metadata of clientID at environment
// (any alias), which records the app's family. It reads memory only: app
// metadata arrives with every partition read from the [Store].
func (c *Cache) AppMetadata(environment, clientID string) (AppMetadata, bool) {
	m, ok := c.appMetadata(canonEnv(environment), clientID)
	if ok {
		m.Extra = maps.Clone(m.Extra)
	}
	return m, ok
}

// appMetadata may be called under a shard lock: metaMu is never held
// while a shard lock is taken.
func (c *Cache) appMetadata(env, clientID string) (AppMetadata, bool) {
	c.metaMu.RLock()
	defer c.metaMu.RUnlock()
	var found *metaEntry
	for _, e := range c.meta {
		if e.env == env && e.m.ClientID == clientID {
			if found == nil || (found.m.FamilyID == "" && e.m.FamilyID != "") {
				found = e
			}
		}
	}
	if found == nil {
		return AppMetadata{}, false
	}
	return found.m, true
}
