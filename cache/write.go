package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalidResponse is matched (with [errors.Is]) by the error
// [Cache.StoreResponse] returns for a [Response] it cannot cache.
var ErrInvalidResponse = errors.New("cache: response cannot be cached")

// Response is a token response as [Cache.StoreResponse] caches it: the
// identity it was acquired for and what the authority returned.
//
// Its String, GoString, Format and LogValue methods never show the tokens.
type Response struct {
	// Environment is the authority host the tokens came from. Entries are
	// written with it (lower-cased), as MSAL Go and MSAL Python write the
	// host they are configured with; lookups through any alias of the same
	// cloud find them. Required.
	Environment string
	// Realm is the tenant the tokens were issued by.
	Realm string
	// ClientID is the application. Required.
	ClientID string
	// HomeAccountID is the user's home account ID; empty for app tokens.
	HomeAccountID string
	// UserAssertionHash is [AssertionHash] of the user's assertion, for
	// on-behalf-of responses.
	UserAssertionHash string
	// Scopes are the granted scopes (the requested ones when the authority
	// listed none), in the authority's order.
	Scopes []string
	// AccessToken is the access token; empty when there is none.
	AccessToken string
	// TokenType is the access token's type; empty means Bearer.
	TokenType string
	// KeyID is the proof-of-possession key the token is bound to.
	KeyID string
	// ExpiresOn is when the access token expires. A token already expired at
	// now is not cached.
	ExpiresOn time.Time
	// ExtendedExpiresOn is the extended expiry (ext_expires_in), if any.
	ExtendedExpiresOn time.Time
	// RefreshOn is when to refresh proactively (refresh_in), if any. It is
	// stored as given: the policy for computing one is the caller's.
	RefreshOn time.Time
	// RefreshToken is the refresh token, if any.
	RefreshToken string
	// FamilyID is the family the response says the app belongs to ("foci").
	FamilyID string
	// IDToken is the raw ID token, if any.
	IDToken string
	// Account is the signed-in account, if any (built by the caller from the
	// ID token's claims). Its HomeAccountID, Environment, Realm and
	// UserAssertionHash are set from the response's; an empty
	// AuthorityType becomes [AuthorityTypeMSSTS].
	Account *Account
}

// change is what one write does, to memory and to a stored document alike.
type change struct {
	at   *AccessToken
	rt   *RefreshToken
	idt  *IDToken
	acct *Account
	meta *AppMetadata
}

// entries builds the cache entries of r.
func (r *Response) entries(now time.Time) (change, partID) {
	env := strings.ToLower(r.Environment)
	pid := partitionOf(r.UserAssertionHash, r.HomeAccountID, r.ClientID, r.Realm)
	var ch change
	nowSec := now.Unix()
	if r.AccessToken != "" && unixOf(r.ExpiresOn) > nowSec {
		tokenType := r.TokenType
		if tokenType == "" {
			tokenType = TokenTypeBearer
		}
		ch.at = &AccessToken{
			HomeAccountID:     r.HomeAccountID,
			Environment:       env,
			Realm:             r.Realm,
			ClientID:          r.ClientID,
			CredentialType:    CredentialTypeAccessToken,
			Target:            strings.Join(r.Scopes, " "),
			Secret:            r.AccessToken,
			CachedAt:          time.Unix(nowSec, 0),
			ExpiresOn:         r.ExpiresOn,
			ExtendedExpiresOn: r.ExtendedExpiresOn,
			RefreshOn:         r.RefreshOn,
			TokenType:         tokenType,
			KeyID:             r.KeyID,
			UserAssertionHash: r.UserAssertionHash,
		}
	}
	if pid.kind != kindApp {
		if r.RefreshToken != "" {
			ch.rt = &RefreshToken{
				HomeAccountID:     r.HomeAccountID,
				Environment:       env,
				ClientID:          r.ClientID,
				CredentialType:    CredentialTypeRefreshToken,
				FamilyID:          r.FamilyID,
				Secret:            r.RefreshToken,
				UserAssertionHash: r.UserAssertionHash,
			}
		}
		if r.IDToken != "" {
			ch.idt = &IDToken{
				HomeAccountID:     r.HomeAccountID,
				Environment:       env,
				Realm:             r.Realm,
				ClientID:          r.ClientID,
				CredentialType:    CredentialTypeIDToken,
				Secret:            r.IDToken,
				UserAssertionHash: r.UserAssertionHash,
			}
		}
		if r.Account != nil {
			a := *r.Account
			a.HomeAccountID = r.HomeAccountID
			a.Environment = env
			a.Realm = r.Realm
			a.UserAssertionHash = r.UserAssertionHash
			if a.AuthorityType == "" {
				a.AuthorityType = AuthorityTypeMSSTS
			}
			if a.HomeAccountID != "" {
				ch.acct = &a
			}
		}
	}
	ch.meta = &AppMetadata{ClientID: r.ClientID, Environment: env, FamilyID: r.FamilyID}
	return ch, pid
}

// StoreResponse caches a token response in one step: its access token,
// refresh token, ID token, account and app metadata, as MSAL does. It
// follows MSAL's replacement rules:
//
//   - an access token replaces the ones of the same partition, environment,
//     realm, client, token type and key ID whose scopes intersect its own
//     (case-insensitively);
//   - a refresh token replaces the identity's refresh token of the same
//     client, or of the same family when it has one;
//   - an ID token replaces the one of the same environment, realm and
//     client; an account the one of the same environment and realm;
//     app metadata the one of the same environment and client.
//
// Refresh tokens, ID tokens and accounts are cached only for a user
// (HomeAccountID) or an on-behalf-of assertion (UserAssertionHash). now is
// recorded as the access token's cached_at (lifetime = ExpiresOn - now).
//
// With a [Store], the partition's stored document is then updated with the
// same changes (Store.Update), keeping what other writers stored. A stored
// document that does not decode is left as it is, byte for byte (the
// failure wraps [ErrMalformed]). A store failure is logged, never
// returned: the token is cached in memory and the caller's acquisition
// succeeds. StoreResponse returns an error only for a response lacking
// ClientID or Environment ([ErrInvalidResponse]).
func (c *Cache) StoreResponse(ctx context.Context, r Response, now time.Time) error {
	if r.ClientID == "" {
		return fmt.Errorf("%w: no client ID", ErrInvalidResponse)
	}
	if r.Environment == "" {
		return fmt.Errorf("%w: no environment", ErrInvalidResponse)
	}
	ch, pid := r.entries(now)
	ph := c.hashPart(pid)
	si := c.shardIndex(ph)
	s := &c.shards[si]
	s.mu.Lock()
	c.sweepShard(s, now.Unix(), 8)
	p := c.partOrNew(s, pid, ph, ch.at != nil)
	if ch.at != nil {
		c.putAT(s, p, *ch.at)
	}
	if ch.rt != nil {
		c.putRT(p, *ch.rt)
	}
	if ch.idt != nil {
		c.putIDT(p, *ch.idt)
	}
	if ch.acct != nil {
		c.putAccount(p, *ch.acct)
	}
	s.touch(p)
	c.dropIfEmpty(s, p)
	through := c.store != nil && (ch.at != nil || ch.rt != nil || ch.idt != nil || ch.acct != nil)
	if through {
		c.traffic[si].startWrite(pid)
	}
	s.mu.Unlock()
	c.putMeta(*ch.meta)
	c.enforce(si, p)
	if through {
		_ = c.writeThrough(ctx, pid, si, func(d *document) { d.apply(&ch) })
	}
	return nil
}

// putAT caches t in p, then drops the tokens it replaces.
func (c *Cache) putAT(s *shard, p *partition, t AccessToken) {
	e := c.insertAT(s, p, "", t)
	for old := e.b.head; old != nil; {
		next := old.next
		if old != e && targetsIntersect(old.target, e.target) {
			c.removeAT(s, old) // e stays, so the bucket does
		}
		old = next
	}
}

func (c *Cache) putRT(p *partition, t RefreshToken) {
	e := c.addRT(p, "", t)
	for i := 0; i < len(p.x.rts); {
		old := p.x.rts[i]
		if old != e && rtReplaces(&e.t, e.env, &old.t, old.env) {
			c.removeRT(p, i)
			continue
		}
		i++
	}
}

func (c *Cache) putIDT(p *partition, t IDToken) {
	e := c.addIDT(p, "", t)
	for i := 0; i < len(p.x.idts); {
		old := p.x.idts[i]
		if old != e && idtReplaces(&e.t, e.env, &old.t, old.env) {
			c.removeIDT(p, i)
			continue
		}
		i++
	}
}

func (c *Cache) putAccount(p *partition, a Account) {
	e := c.addAccount(p, "", a)
	for i := 0; i < len(p.x.accts); {
		old := p.x.accts[i]
		if old != e && acctReplaces(&e.a, e.env, &old.a, old.env) {
			c.removeAccount(p, i)
			continue
		}
		i++
	}
}

// indexAccount records that user partition p holds account e; callers
// hold idxMu.
func (c *Cache) indexAccount(p *partition, e *acctEntry) {
	c.acctParts[p] = struct{}{}
	u := strings.ToLower(e.a.Username)
	m := c.byUser[u]
	if m == nil {
		m = make(map[*partition]struct{})
		c.byUser[u] = m
	}
	m[p] = struct{}{}
}

// unindexAccount updates the account indexes after account e was removed
// from user partition p: p stays indexed for what its other accounts
// still hold. Callers hold idxMu.
func (c *Cache) unindexAccount(p *partition, e *acctEntry) {
	u := strings.ToLower(e.a.Username)
	for _, o := range p.accts() {
		if strings.ToLower(o.a.Username) == u {
			return
		}
	}
	if len(p.accts()) == 0 {
		delete(c.acctParts, p)
	}
	c.unindexUser(p, u)
}

// unindexUser drops p from the partitions of lower-cased username u;
// callers hold idxMu.
func (c *Cache) unindexUser(p *partition, u string) {
	if m := c.byUser[u]; m != nil {
		delete(m, p)
		if len(m) == 0 {
			delete(c.byUser, u)
		}
	}
}

// putMeta caches m, replacing the app metadata of the same environment and
// client.
func (c *Cache) putMeta(m AppMetadata) {
	env := canonEnv(m.Environment)
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	c.meta = slices.DeleteFunc(c.meta, func(e *metaEntry) bool { return e.env == env && e.m.ClientID == m.ClientID })
	c.meta = append(c.meta, &metaEntry{m: m, env: env})
}

// rtReplaces reports whether refresh token n replaces o: same identity and
// environment, and same client or same family.
func rtReplaces(n *RefreshToken, nenv string, o *RefreshToken, oenv string) bool {
	return nenv == oenv && n.HomeAccountID == o.HomeAccountID && n.UserAssertionHash == o.UserAssertionHash &&
		(n.ClientID == o.ClientID || (n.FamilyID != "" && n.FamilyID == o.FamilyID))
}

// idtReplaces reports whether ID token n replaces o: same identity,
// environment, realm and client.
func idtReplaces(n *IDToken, nenv string, o *IDToken, oenv string) bool {
	return nenv == oenv && n.Realm == o.Realm && n.ClientID == o.ClientID &&
		n.HomeAccountID == o.HomeAccountID && n.UserAssertionHash == o.UserAssertionHash
}

// acctReplaces reports whether account n replaces o: same identity,
// environment and realm.
func acctReplaces(n *Account, nenv string, o *Account, oenv string) bool {
	return nenv == oenv && n.Realm == o.Realm && n.HomeAccountID == o.HomeAccountID && n.UserAssertionHash == o.UserAssertionHash
}
