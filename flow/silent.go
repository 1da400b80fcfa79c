package flow

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// InteractionError is the error of a call that only the user, signing in
// again, can satisfy: no cached refresh token, one the authority refused
// (expired, revoked, the password changed), consent or multi-factor
// authentication to give, or a resource's step-up challenge. It matches
// [ErrInteractionRequired]; Unwrap gives the authority's [*Error] when
// there was one.
//
// A web app sends the user to sign in with [InteractionError.SignInOptions]
// (InitiateAuthCodeFlow(ctx, scopes, redirectURI, ie.SignInOptions()...)),
// so the sign-in asks for what the resource wants.
type InteractionError struct {
	// Reason says why, in words; it holds no secret and no personal data.
	Reason string
	// Claims is the claims request the sign-in must make (the resource's
	// challenge claims merged with the authority's claims challenge); empty
	// when none.
	Claims string
	// ACRValues are the authentication context class references a
	// step-up challenge asked for (acr_values).
	ACRValues []string
	// MaxAge, when HasMaxAge, is the max_age a step-up challenge asked
	// for: the user must have signed in within it.
	MaxAge    time.Duration
	HasMaxAge bool
	// Err is the authority's error ([*Error]), or nil.
	Err error
}

func (e *InteractionError) Error() string {
	msg := "flow: interaction required: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the authority's error, if any.
func (e *InteractionError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrInteractionRequired].
func (e *InteractionError) Is(target error) bool { return target == ErrInteractionRequired }

// SignInOptions returns the call options of a sign-in that asks for what
// e says is missing: [Claims], [ACRValues] and [MaxAge], for
// InitiateAuthCodeFlow or AuthorizationRequestURL.
func (e *InteractionError) SignInOptions() []CallOption {
	var out []CallOption
	if e.Claims != "" {
		out = append(out, Claims(e.Claims))
	}
	if len(e.ACRValues) > 0 {
		out = append(out, ACRValues(e.ACRValues...))
	}
	if e.HasMaxAge {
		out = append(out, MaxAge(e.MaxAge))
	}
	return out
}

// interactionFrom returns err as an *InteractionError when only the user
// can resolve it: an authority's error whose code is invalid_grant (for a
// refresh token: expired, revoked, or issued before a password change),
// or one that [Error.InteractionRequired] says so. claims are the call's
// own claims, merged with the authority's. Other errors are returned as
// they are.
func interactionFrom(err error, reason, claims string) error {
	var fe *Error
	if !errors.As(err, &fe) || (fe.Code != "invalid_grant" && !fe.InteractionRequired()) {
		return err
	}
	ie := &InteractionError{Reason: reason, Err: err, Claims: claims}
	if fe.Claims != "" {
		if merged, mErr := mergeClaims(claims, fe.Claims); mErr == nil {
			ie.Claims = merged
		} else {
			ie.Claims = fe.Claims
		}
	}
	return ie
}

// userGrant is one silent acquisition of a user's token.
type userGrant struct {
	a      authority // where the token comes from
	env    string    // the environment its tokens are cached under
	realm  string    // the tenant its tokens are cached under
	scopes []string
	fold   bool
	home   string // the account's home account ID
	// keyID is the thumbprint of the DPoP key the tokens are bound to,
	// "" for bearer tokens (see grant.keyID).
	keyID string
}

func (g *userGrant) query(clientID string) cache.AccessTokenQuery {
	return cache.AccessTokenQuery{
		Environment: g.env, Realm: g.realm, ClientID: clientID,
		HomeAccountID: g.home, Scopes: g.scopes, CaseInsensitiveScopes: g.fold,
		TokenType: tokenTypeOf(g.keyID), KeyID: g.keyID,
	}
}

func (g *userGrant) key(claims string, force bool) string {
	return flightKey("user", g.home, g.env, g.realm, g.scopes, g.fold, claims, force)
}

// silent is AcquireTokenSilent with its options applied; without
// withIDToken a cached result leaves out the ID token and the account
// read from the cache (a source needs only the access token).
func (u users) silent(ctx context.Context, scopes []string, acct Account, cc callConfig, withIDToken bool) (r Result, err error) {
	var tr *acquisition // nil unless the application is traced
	if t := u.cfg.trace; t != nil {
		var a acquisition
		tr = &a
		ctx = tr.begin(ctx, t, acquireInfo(KindSilent, scopes, cc))
		defer func() { tr.end(ctx, r.FromCache, err) }()
	}
	if err := checkScopes(scopes); err != nil {
		return Result{}, err
	}
	if acct.HomeAccountID == "" || acct.Environment == "" {
		return Result{}, &InteractionError{Reason: "no account: the user must sign in first", Claims: cc.claims}
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	// The cache is read before anything that needs the network, so a
	// cached token serves while the authority cannot be reached.
	env, realm, known := u.cacheKeyOf(a)
	if !known {
		ep, err := u.endpointsOf(ctx, a)
		if err != nil {
			return Result{}, err
		}
		env, realm = ep.environment, tokenRealm(a)
	}
	g := userGrant{a: a, env: env, realm: realm, scopes: scopes, fold: a.caseInsensitiveScopes(), home: acct.HomeAccountID, keyID: u.dpop.keyID()}
	plain := cc.claims == "" && !cc.forceRefresh
	if plain {
		now := u.cfg.clock()
		if at, ok := u.cache.AccessToken(ctx, g.query(u.clientID), now); ok {
			u.logHit(ctx, "silent", scopes, at)
			if refreshDue(at.RefreshOn, now) {
				u.refreshUser(ctx, g, at.RefreshOn, now)
			}
			r := Result{Token: tokenFromCache(at), FromCache: true}
			if withIDToken {
				u.cachedUserIDToken(ctx, &g, acct, &r)
			}
			return r, nil
		}
	}
	return u.silentFetch(tr.missed(ctx), g, acct, cc)
}

// silentFetch gets g's token from the authority with the account's
// refresh token, sharing the request with concurrent identical calls. A
// plain call looks in the cache once more first. (Apart from silent, so
// that its cached path allocates no closure.)
func (u users) silentFetch(ctx context.Context, g userGrant, acct Account, cc callConfig) (Result, error) {
	plain := cc.claims == "" && !cc.forceRefresh
	g.scopes = slices.Clone(g.scopes) // the flight may outlive a caller that gives up
	return u.flights.do(ctx, g.key(cc.claims, cc.forceRefresh), func(ctx context.Context) (Result, error) {
		if plain {
			// A flight that just ended may have cached the token.
			if at, ok := u.cache.AccessToken(ctx, g.query(u.clientID), u.cfg.clock()); ok {
				r := Result{Token: tokenFromCache(at), FromCache: true}
				u.cachedUserIDToken(ctx, &g, acct, &r)
				return r, nil
			}
		}
		return u.redeemCachedRefreshToken(ctx, g, cc.claims)
	})
}

// cachedUserIDToken adds the account's cached ID token, its claims and the
// account they describe to r; the account given, when the cache has no ID
// token for it.
func (u users) cachedUserIDToken(ctx context.Context, g *userGrant, acct Account, r *Result) {
	r.Account = acct
	idt, ok := u.cache.IDToken(ctx, cache.IDTokenQuery{
		Environment: g.env, Realm: g.realm, ClientID: u.clientID, HomeAccountID: g.home,
	})
	if !ok {
		return
	}
	claims, err := jwtClaims(idt.Secret) // verified when it was cached
	if err != nil {
		return
	}
	r.IDToken, r.IDTokenClaims = idt.Secret, claims
	a := newAccount(&endpoints{authority: g.a, environment: g.env}, oauth.ClientInfo{}, claims)
	a.HomeAccountID, a.TenantID = g.home, g.realm
	r.Account = a
}

// refreshUser starts a background refresh of g's token, due since
// refreshOn, that looks in the cache again first.
func (u users) refreshUser(ctx context.Context, g userGrant, refreshOn, now time.Time) {
	g.scopes = slices.Clone(g.scopes)
	info := RefreshInfo{Kind: KindSilent, Scopes: g.scopes}
	if g.a.tenant != u.authority.tenant {
		info.Tenant = g.a.tenant
	}
	u.refreshInBackgroundOf(ctx, info, g.key("", false), refreshOn, now, func(ctx context.Context) (Result, error) {
		now := u.cfg.clock()
		if at, ok := u.cache.AccessToken(ctx, g.query(u.clientID), now); ok && !refreshDue(at.RefreshOn, now) {
			return Result{Token: tokenFromCache(at), FromCache: true}, nil
		}
		return u.redeemCachedRefreshToken(ctx, g, "")
	})
}

// redeemCachedRefreshToken gets g's token with the account's cached
// refresh token: the family's first (FOCI: any app of the family may
// redeem it; tried too while the cache does not know yet whether this
// application belongs to a family), then the application's own if the
// authority refused the family's. The response is cached (a rotated
// refresh token replaces the one redeemed). No refresh token, or one the
// authority refuses, is an *InteractionError.
func (u users) redeemCachedRefreshToken(ctx context.Context, g userGrant, claims string) (Result, error) {
	start := time.Now()
	q := cache.RefreshTokenQuery{Environment: g.env, ClientID: u.clientID, HomeAccountID: g.home}
	if _, known := u.cache.AppMetadata(g.env, u.clientID); !known {
		q.FamilyID = cache.FamilyFOCI
	}
	rt, ok := u.cache.RefreshToken(ctx, q)
	if !ok {
		u.log.debug(ctx, "flow: silent: no refresh token for the account", slog.String("environment", g.env))
		return Result{}, &InteractionError{Reason: "no refresh token is cached for the account: the user must sign in", Claims: claims}
	}
	ep, err := u.endpointsOf(ctx, g.a)
	if err != nil {
		return Result{}, err
	}
	r, err := u.redeemRefreshToken(ctx, ep, g.scopes, rt.Secret, claims, "silent")
	if err != nil && rt.FamilyID != "" {
		var fe *Error
		if errors.As(err, &fe) && fe.StatusCode/100 == 4 { // refused, not an outage
			own, ok := u.cache.RefreshToken(ctx, cache.RefreshTokenQuery{
				Environment: g.env, ClientID: u.clientID, HomeAccountID: g.home, OwnOnly: true,
			})
			if ok && own.Secret != rt.Secret {
				u.log.debug(ctx, "flow: silent: the family refresh token was refused; trying the application's own",
					slog.String("error", fe.Code))
				r, err = u.redeemRefreshToken(ctx, ep, g.scopes, own.Secret, claims, "silent")
			}
		}
	}
	if err != nil {
		return Result{}, interactionFrom(err, "the authority refused the account's refresh token", claims)
	}
	u.log.debug(ctx, "flow: silent: token refreshed", slog.Duration("elapsed", time.Since(start)))
	return r, nil
}

// redeemRefreshToken redeems rt at ep for scopes with the call's claims
// (merged with the capabilities) and caches the response.
func (u users) redeemRefreshToken(ctx context.Context, ep *endpoints, scopes []string, rt, claims, what string) (Result, error) {
	start := time.Now()
	merged, err := u.claimsFor(claims)
	if err != nil {
		return Result{}, err
	}
	userScopes := oauth.UserScopes(scopes, u.cfg.excludeScopes)
	u.log.debug(ctx, "flow: "+what+": redeeming a refresh token",
		slog.Any("scopes", userScopes), slog.String("authority", ep.authority.String()), slog.Bool("claims", claims != ""))
	tok, err := u.redeem(ctx, tokenRequest{
		endpoints: ep,
		form:      oauth.RefreshTokenForm(u.clientID, userScopes, rt, merged),
		cred:      u.cred,
	})
	if err != nil {
		return Result{}, err
	}
	return u.finish(ctx, tok, userResponse{ep: ep, scopes: scopes, redeemed: rt, what: what}, start)
}
