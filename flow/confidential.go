package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrTenantRequired is wrapped by the error of a call that needs a
// specific tenant and was given common, organizations or consumers:
// client credentials ask for the application's own token in one tenant.
// Use a tenant ID or domain in [WithAuthority], or [Tenant] for the call.
var ErrTenantRequired = errors.New("flow: a specific tenant is required")

// Confidential is a confidential client application: one that can keep a
// credential (a secret, a certificate, an assertion), such as a daemon, a
// web app or a web API. It is MSAL's ConfidentialClientApplication.
//
// It gets tokens for itself ([Confidential.AcquireTokenForClient]), for
// the users calling it ([Confidential.AcquireTokenOnBehalfOf]), and for
// the users it signs in, as a web app does
// ([Confidential.InitiateAuthCodeFlow], [Confidential.AcquireTokenSilent]:
// the user flows it shares with [Public]); keeps them in its token cache,
// and hands them to [bearer.Transport] through
// [Confidential.ClientSource], [Confidential.OnBehalfOfSource] and
// [Confidential.AccountSource].
//
// Cached tokens are served until the last min(5 min, lifetime/10) of
// their life. Past their RefreshOn (the authority's refresh_in, or half
// the lifetime of tokens living 2 hours or more) the first call to find
// one starts a refresh in the background, at most one per token, and is
// served the cached token; a failed background refresh keeps the cached
// token in service and is tried again after a backoff (30 s, doubled
// after each failure, at most 5 min). A background refresh runs with the
// values of the call that started it, without its cancellation, for at
// most 30 s: nothing needs closing. Concurrent identical calls share one
// request to the authority. The cache is read before anything that needs
// the network (such as the authority's discovery document), so cached
// tokens keep serving while the authority cannot be reached.
//
// A Confidential is safe for concurrent use.
type Confidential struct {
	*app
	cred   credential.Credential
	forced forcedRefreshes // of its sources' invalid_token recoveries
}

// NewConfidential returns a confidential client application with the
// application (client) ID clientID, authenticating with cred. It fails
// when cred cannot authenticate at all (an empty secret, a nil callback,
// see [credential.Validate]), when an option's value cannot be used
// ([ErrInvalidOption], [ErrInvalidAuthority]), or when the client claims
// of [WithClientClaims] would replace a claim the assertion sets itself.
// Nothing is sent to the authority until the first call.
//
// Without [WithCache], the application keeps its tokens in a private
// in-memory cache.
func NewConfidential(clientID string, cred credential.Credential, opts ...Option) (*Confidential, error) {
	if strings.TrimSpace(clientID) == "" {
		return nil, fmt.Errorf("%w: the client ID is empty", ErrInvalidOption)
	}
	if err := credential.Validate(cred); err != nil {
		return nil, fmt.Errorf("flow: client credential: %w", err)
	}
	cfg, err := newConfig(opts...)
	if err != nil {
		return nil, err
	}
	if len(cfg.clientClaims) > 0 {
		if err := credential.CheckClientClaims(cfg.clientClaims); err != nil {
			return nil, fmt.Errorf("%w: client claims: %w", ErrInvalidOption, err)
		}
	}
	a, err := newApp(clientID, cfg)
	if err != nil {
		return nil, err
	}
	return &Confidential{app: a, cred: cred}, nil
}

// AcquireTokenForClient returns a token for the application itself (the
// client credentials grant), for scopes of one resource, which for Entra
// end in /.default (such as "https://graph.microsoft.com/.default").
//
// The token comes from the cache when a usable one is there, unless the
// call has [Claims] or [ForceRefresh]: then it comes from the authority
// and replaces the cached one. [Tenant] asks for a token from another
// tenant (cached separately). The application's authority (or the call's
// [Authority]) must name a specific tenant: common, organizations and
// consumers fail with an error wrapping [ErrTenantRequired] before any
// request. With [WithRegion], the request goes to the regional endpoint.
//
// An authority's error is an [*Error].
func (c *Confidential) AcquireTokenForClient(ctx context.Context, scopes []string, opts ...CallOption) (Result, error) {
	cc, err := newCallConfigFor("AcquireTokenForClient", usedByAcquire|optForceRefresh, opts...)
	if err != nil {
		return Result{}, err
	}
	return c.forClient(ctx, scopes, cc)
}

// forClient is AcquireTokenForClient with its options applied.
func (c *Confidential) forClient(ctx context.Context, scopes []string, cc callConfig) (Result, error) {
	if err := checkScopes(scopes); err != nil {
		return Result{}, err
	}
	a, err := c.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	if a.multiTenant() {
		return Result{}, fmt.Errorf("%w: client credentials cannot use the %s authority %s: name the tenant (its ID or domain) in WithAuthority or with Tenant",
			ErrTenantRequired, a.tenant, a)
	}
	g := grant{a: a, scopes: scopes, fold: a.caseInsensitiveScopes(), keyID: c.dpop.keyID()}
	return c.acquire(ctx, &g, cc, false)
}

// grant is one acquisition of the application's own token (client
// credentials) or of a token for a user's assertion (on-behalf-of), as
// the path both flows share needs it: what it is cached under, what
// identifies it among concurrent calls, and how to fetch it. A plain call
// (no claims, no force refresh) tries fromCache, then fetchOnce; any
// other call goes straight to fetchOnce.
type grant struct {
	a authority
	// ep are a's endpoints; nil until they are needed (see
	// Confidential.acquire), as a cached token needs none.
	ep *endpoints
	// env and realm are where g's tokens are cached (core.cacheKeyOf).
	env, realm string
	scopes     []string
	fold       bool // scopes are matched case-insensitively
	// assertion and hash are the user's assertion and its
	// cache.AssertionHash for on-behalf-of, empty for client credentials.
	assertion, hash string
	// keyID is the thumbprint of the DPoP key the tokens are bound to,
	// "" for bearer tokens.
	keyID string
	// shareScopes lets a cached token's Scopes be scopes itself (see
	// sourceTokenFromCache): set for a bearer.TokenSource's call.
	shareScopes bool
}

// what names g's flow in log records.
func (g *grant) what() string {
	if g.hash != "" {
		return "on-behalf-of"
	}
	return "client credentials"
}

// query is g's access token in the cache of the application clientID.
func (g *grant) query(clientID string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{
		Environment: g.env, Realm: g.realm, ClientID: clientID,
		UserAssertionHash: g.hash, Scopes: g.scopes, CaseInsensitiveScopes: g.fold,
		TokenType: tokenTypeOf(g.keyID), KeyID: g.keyID,
	}
}

// key is the flight key of g for a call with claims and force-refresh.
func (g *grant) key(claims string, force bool) string {
	kind := "client"
	if g.hash != "" {
		kind = "obo"
	}
	return flightKey(kind, g.hash, g.env, g.realm, g.scopes, g.fold, claims, force)
}

// acquire is the path both flows share once g names its authority,
// scopes and identity: the token cache first, unless the call has claims
// or force-refresh, before anything that needs the network (so a cached
// token serves while the authority's discovery document cannot be read),
// then the endpoints, then one flight per identical acquisition. Only
// when g's cache key needs the endpoints themselves (an Entra host that
// instance discovery vouches for, not yet discovered) is the cache read
// after them. withIDToken adds the assertion's cached ID token to an
// on-behalf-of result found in the cache.
func (c *Confidential) acquire(ctx context.Context, g *grant, cc callConfig, withIDToken bool) (r Result, err error) {
	var at *acquisition // nil unless the application is traced
	if t := c.cfg.trace; t != nil {
		var a acquisition
		at = &a
		ctx = at.begin(ctx, t, acquireInfo(g.kind(), g.scopes, cc))
		defer func() { at.end(ctx, r.FromCache, err) }()
	}
	plain := cc.claims == "" && !cc.forceRefresh
	g.shareScopes = cc.source
	var known bool
	g.env, g.realm, known = c.cacheKeyOf(g.a)
	if plain && known {
		if r, ok := c.fromCache(ctx, g, withIDToken); ok {
			return r, nil
		}
	}
	if g.hash != "" {
		// The user's assertion is checked before anything needs the
		// network: only its canonical spelling is ever sent, and so
		// cached, and the cached path need not scan it again.
		if err := checkAssertion(g.assertion); err != nil {
			return Result{}, err
		}
	}
	ep, err := c.endpointsOf(ctx, g.a)
	if err != nil {
		return Result{}, err
	}
	g.ep, g.env, g.realm = ep, ep.environment, ep.realm
	if plain && !known {
		if r, ok := c.fromCache(ctx, g, withIDToken); ok {
			return r, nil
		}
	}
	return c.fetchOnce(at.missed(ctx), *g, cc)
}

// endpoints returns g's endpoints, resolving them if g has none yet (a
// background refresh of a token served before they were needed).
func (c *Confidential) endpoints(ctx context.Context, g *grant) (*endpoints, error) {
	if g.ep != nil {
		return g.ep, nil
	}
	ep, err := c.endpointsOf(ctx, g.a)
	if err != nil {
		return nil, err
	}
	g.ep, g.env, g.realm = ep, ep.environment, ep.realm
	return ep, nil
}

// fromCache returns g's cached access token, if a usable one is there,
// with the assertion's cached ID token when withIDToken is set. A token
// past its RefreshOn is served, and a refresh starts in the background.
func (c *Confidential) fromCache(ctx context.Context, g *grant, withIDToken bool) (Result, bool) {
	now := c.cfg.clock()
	at, ok := c.cache.AccessToken(ctx, g.query(c.clientID), now)
	if !ok {
		return Result{}, false
	}
	c.logHit(ctx, g.what(), g.scopes, at)
	if refreshDue(at.RefreshOn, now) {
		c.refresh(ctx, *g, at.RefreshOn, now)
	}
	var r Result
	if g.shareScopes {
		r = Result{Token: sourceTokenFromCache(at, g.scopes), FromCache: true}
	} else {
		r = Result{Token: tokenFromCache(at), FromCache: true}
	}
	if withIDToken && g.hash != "" {
		c.cachedIDToken(ctx, g, &r)
	}
	return r, true
}

// refresh starts a background refresh of g's token, due since refreshOn.
// The refresh looks in the cache again first: a caller that found the
// token due can start its refresh after another refresh has replaced the
// token, which is then not refreshed again.
func (c *Confidential) refresh(ctx context.Context, g grant, refreshOn, now time.Time) {
	g.scopes = slices.Clone(g.scopes) // the caller's slice may change once it returns
	c.refreshInBackgroundOf(ctx, c.refreshInfo(&g), g.key("", false), refreshOn, now,
		func(ctx context.Context) (Result, error) {
			fresh := func(ctx context.Context) (Result, bool) {
				now := c.cfg.clock()
				if at, ok := c.cache.AccessToken(ctx, g.query(c.clientID), now); ok && !refreshDue(at.RefreshOn, now) {
					return Result{Token: tokenFromCache(at), FromCache: true}, true
				}
				return Result{}, false
			}
			if r, ok := fresh(ctx); ok {
				return r, nil
			}
			return c.leased(ctx, g.partition(c.clientID), g.key("", false), fresh, func(ctx context.Context) (Result, error) {
				return c.fetch(ctx, g, "")
			})
		})
}

// fetchOnce gets g's token from the authority, sharing the request with
// concurrent identical calls. A plain call looks in the cache once more
// first, as a call that just ended may have cached the token (a caller
// that missed the cache can start its flight after another caller's
// flight has ended); an on-behalf-of result found there carries the
// cached ID token, as a cached result of AcquireTokenOnBehalfOf does.
func (c *Confidential) fetchOnce(ctx context.Context, g grant, cc callConfig) (Result, error) {
	g.scopes = slices.Clone(g.scopes) // the flight may outlive a caller that gives up
	recheck := cc.claims == "" && !cc.forceRefresh
	return c.flights.do(ctx, g.key(cc.claims, cc.forceRefresh), func(ctx context.Context) (Result, error) {
		if !recheck {
			return c.fetch(ctx, g, cc.claims)
		}
		cached := func(ctx context.Context) (Result, bool) {
			at, ok := c.cache.AccessToken(ctx, g.query(c.clientID), c.cfg.clock())
			if !ok {
				return Result{}, false
			}
			r := Result{Token: tokenFromCache(at), FromCache: true}
			if g.hash != "" {
				c.cachedIDToken(ctx, &g, &r)
			}
			return r, true
		}
		if r, ok := cached(ctx); ok {
			return r, nil
		}
		// Other processes sharing the cache's store may be asking for
		// the same token: see WithFleetCoalescing.
		return c.leased(ctx, g.partition(c.clientID), g.key("", false), cached, func(ctx context.Context) (Result, error) {
			return c.fetch(ctx, g, "")
		})
	})
}

// fetch asks the authority for g's token with claims and caches it.
func (c *Confidential) fetch(ctx context.Context, g grant, claims string) (Result, error) {
	if _, err := c.endpoints(ctx, &g); err != nil {
		return Result{}, err
	}
	if g.hash != "" {
		return c.fetchOnBehalfOf(ctx, g, claims)
	}
	return c.fetchForClient(ctx, g, claims)
}

// fetchForClient asks the authority for a client-credentials token and
// caches it.
func (c *Confidential) fetchForClient(ctx context.Context, g grant, claims string) (Result, error) {
	start := time.Now()
	merged, err := c.claimsFor(claims)
	if err != nil {
		return Result{}, err
	}
	ep := g.ep
	scopes := oauth.AppScopes(g.scopes)
	c.log.debug(ctx, "flow: client credentials: asking the authority",
		slog.Any("scopes", scopes), slog.String("authority", ep.authority.String()),
		slog.Bool("claims", claims != ""))
	tok, err := c.redeem(ctx, tokenRequest{
		endpoints: ep,
		form:      oauth.ClientCredentialsForm(c.clientID, scopes, merged),
		cred:      c.cred,
	})
	if err != nil {
		return Result{}, err
	}
	c.store(ctx, cache.Response{
		Environment:       g.env,
		Realm:             g.realm,
		ClientID:          c.clientID,
		Scopes:            scopes, // Entra lists no scope in a client-credentials response
		AccessToken:       tok.AccessToken,
		TokenType:         tok.TokenType,
		ExpiresOn:         tok.ExpiresOn,
		ExtendedExpiresOn: tok.ExtExpiresOn,
		RefreshOn:         tok.RefreshOn,
	}, c.cfg.clock())
	c.log.debug(ctx, "flow: client credentials: token cached",
		slog.Any("scopes", scopes), slog.Time("expires_on", tok.ExpiresOn), slog.Time("refresh_on", tok.RefreshOn),
		slog.Duration("elapsed", time.Since(start)))
	return Result{Token: tokenFromResponse(tok, scopes)}, nil
}

// RemoveTokensForClient removes the application's own tokens (those of
// [Confidential.AcquireTokenForClient]) from the cache, in every tenant.
// With a persistent cache store, the stored partitions are updated too;
// a store failure is returned (memory is cleared regardless).
func (c *Confidential) RemoveTokensForClient(ctx context.Context) error {
	c.log.debug(ctx, "flow: removing the application's tokens from the cache")
	return c.cache.RemoveAppTokens(ctx, c.clientID, "")
}

// accounts lists the cached accounts of the application's users.
func (a *app) accounts(ctx context.Context, username string) ([]Account, error) {
	env, _, ok := a.cacheKeyOf(a.authority)
	if !ok {
		ep, err := a.endpointsOf(ctx, a.authority)
		if err != nil {
			return nil, err
		}
		env = ep.environment
	}
	found := a.cache.Accounts(ctx, cache.AccountFilter{Username: username, Environment: env, ClientID: a.clientID})
	if _, known := a.cache.AppMetadata(env, a.clientID); !known {
		found = a.familyAccounts(ctx, env, username, found)
	}
	out := make([]Account, 0, len(found))
	for _, ca := range found {
		out = append(out, accountFromCache(ca))
	}
	a.log.debug(ctx, "flow: accounts listed", slog.Int("accounts", len(out)), a.log.pii("username", username))
	return out, nil
}

// removeAccount removes account from the cache.
func (a *app) removeAccount(ctx context.Context, account Account) error {
	if account.HomeAccountID == "" || account.Environment == "" {
		return fmt.Errorf("%w: the account has no home account ID or environment (is it the zero Account?)", ErrInvalidOption)
	}
	a.log.debug(ctx, "flow: removing an account from the cache",
		slog.String("environment", account.Environment), a.log.pii("home_account_id", account.HomeAccountID))
	return a.cache.RemoveAccount(ctx, account.cacheAccount(), a.clientID)
}
