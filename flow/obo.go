package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrNoUserAssertion is wrapped by the error of an on-behalf-of call made
// without the user's assertion: [Confidential.AcquireTokenOnBehalfOf]
// given an empty one, or the source of [Confidential.OnBehalfOfSource]
// asked for a token with a context that carries none (see
// [ContextWithUserAssertion] and [Confidential.Middleware]).
var ErrNoUserAssertion = errors.New("flow: no user assertion: the caller's access token is needed for on-behalf-of")

// ErrMalformedAssertion is wrapped by the error of an on-behalf-of call
// whose user assertion is not a JWT in the one spelling RFC 7515 allows
// (compact serialization; base64url without padding, the unused bits of
// each part's last character zero). The authority would read other
// spellings of a token alike, but each would be cached apart and cost a
// request of its own. The error says which part is at fault and how,
// never the assertion.
var ErrMalformedAssertion = errors.New("flow: malformed user assertion")

// userAssertionKey is the context key of the user's assertion.
type userAssertionKey struct{}

// ContextWithUserAssertion returns a copy of ctx that carries token, the
// access token a web API received from its caller (the bearer token of
// its request), as the user's assertion for
// [Confidential.OnBehalfOfSource]. [Confidential.Middleware] does this for
// every request it lets through.
func ContextWithUserAssertion(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, userAssertionKey{}, &userAssertion{token: token})
}

// userAssertion is what ContextWithUserAssertion stores: the assertion,
// and its cache.AssertionHash once a source has needed it, so that every
// token a request's context asks for (each downstream call) hashes it
// once only.
type userAssertion struct {
	token string
	hash  atomic.Pointer[string]
	// served keeps the token OnBehalfOfSource last served for this
	// context from the cache, once hits (its cached answers) passes one.
	served servedSlot
	hits   atomic.Int32
}

// hashed returns cache.AssertionHash(a.token), computed on first use.
// Goroutines sharing the context may compute it at once; they store the
// same value.
func (a *userAssertion) hashed() string {
	if h := a.hash.Load(); h != nil {
		return *h
	}
	h := cache.AssertionHash(a.token)
	a.hash.Store(&h)
	return h
}

// userAssertionOf returns the user's assertion ctx carries, nil when it
// carries none or an empty one.
func userAssertionOf(ctx context.Context) *userAssertion {
	a, _ := ctx.Value(userAssertionKey{}).(*userAssertion)
	if a == nil || a.token == "" {
		return nil
	}
	return a
}

// UserAssertionFromContext returns the user's assertion ctx carries (see
// [ContextWithUserAssertion]), and whether it carries a non-empty one.
func UserAssertionFromContext(ctx context.Context) (string, bool) {
	if a := userAssertionOf(ctx); a != nil {
		return a.token, true
	}
	return "", false
}

// AcquireTokenOnBehalfOf returns a token for a downstream API, acting for
// the user whose access token a web API (the middle tier) received from
// its caller: userAssertion is that token, issued for this application's
// API. It is the on-behalf-of flow (RFC 7523's jwt-bearer grant with
// requested_token_use=on_behalf_of).
//
// Tokens are cached per assertion (by its SHA-256 hash, as MSAL keys
// them), so one user's tokens never serve another. The assertion must be
// a compact JWT (JWS or JWE) in the one spelling RFC 7515 allows:
// base64url parts without padding, the unused bits of each part's last
// character zero. Any other spelling fails with an error wrapping
// [ErrMalformedAssertion] before any request: the authority would read it
// as the same token, but it would be cached apart, each spelling costing
// a request. An access token comes
// from the cache when a usable one is there, unless the call has [Claims]
// or [ForceRefresh]. Otherwise the refresh token the authority returned
// with the assertion's earlier token is redeemed (which does not need the
// assertion to be still valid); a refresh token the authority rejects,
// or none, means the on-behalf-of grant itself. The result carries the
// ID token and the user's account when the authority sent them.
//
// An authority's error is an [*Error]; one whose Suberror is
// consent_required (or whose Code is interaction_required, as after a
// Conditional Access policy) matches [ErrInteractionRequired]: the middle
// tier passes it, with the error's Claims, back to its own client.
func (c *Confidential) AcquireTokenOnBehalfOf(ctx context.Context, userAssertion string, scopes []string, opts ...CallOption) (Result, error) {
	cc, err := newCallConfigFor("AcquireTokenOnBehalfOf", usedByAcquire|optForceRefresh, opts...)
	if err != nil {
		return Result{}, err
	}
	return c.onBehalfOf(ctx, userAssertion, "", scopes, cc, true)
}

// onBehalfOf is AcquireTokenOnBehalfOf with its options applied; without
// withIDToken, a cached result leaves out the ID token and account (a
// source needs only the access token). hash is the assertion's
// cache.AssertionHash when the caller has it, else "".
func (c *Confidential) onBehalfOf(ctx context.Context, assertion, hash string, scopes []string, cc callConfig, withIDToken bool) (Result, error) {
	if strings.TrimSpace(assertion) == "" {
		return Result{}, ErrNoUserAssertion
	}
	if err := checkScopes(scopes); err != nil {
		return Result{}, err
	}
	a, err := c.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	if hash == "" {
		hash = cache.AssertionHash(assertion)
	}
	g := grant{a: a, scopes: scopes, fold: a.caseInsensitiveScopes(), assertion: assertion, hash: hash, keyID: c.dpop.keyID()}
	return c.acquire(ctx, &g, cc, withIDToken)
}

// checkAssertion returns an error wrapping [ErrMalformedAssertion] when
// assertion is not a compact JWT in canonical base64url (see
// compactProblem). It names the part at fault and the problem, never the
// assertion.
func checkAssertion(assertion string) error {
	part, problem := compactProblem(assertion)
	switch {
	case problem == "":
		return nil
	case part == "":
		return fmt.Errorf("%w: it %s", ErrMalformedAssertion, problem)
	}
	return fmt.Errorf("%w: its %s %s", ErrMalformedAssertion, part, problem)
}

// cachedIDToken adds the cached ID token of g's assertion, its claims and
// the account they describe, to r.
func (c *Confidential) cachedIDToken(ctx context.Context, g *grant, r *Result) {
	idt, ok := c.cache.IDToken(ctx, cache.IDTokenQuery{
		Environment: g.env, Realm: g.realm, ClientID: c.clientID, UserAssertionHash: g.hash,
	})
	if !ok {
		return
	}
	claims, err := jwtClaims(idt.Secret)
	if err != nil {
		c.log.debug(ctx, "flow: the cached ID token cannot be read", slog.String("error", err.Error()))
		return
	}
	r.IDToken, r.IDTokenClaims = idt.Secret, claims
	ep := g.ep
	if ep == nil {
		// Served from the cache before any endpoint was needed: the
		// account needs only where the tokens are cached.
		ep = &endpoints{authority: g.a, environment: g.env, realm: g.realm}
	}
	r.Account = newAccount(ep, oauth.ClientInfo{}, claims)
	if idt.HomeAccountID != "" {
		r.Account.HomeAccountID = idt.HomeAccountID
	}
}

// fetchOnBehalfOf gets an on-behalf-of token from the authority: by the
// assertion's cached refresh token if there is one and the authority
// takes it, else by the on-behalf-of grant; and caches it.
func (c *Confidential) fetchOnBehalfOf(ctx context.Context, g grant, claims string) (Result, error) {
	start := time.Now()
	merged, err := c.claimsFor(claims)
	if err != nil {
		return Result{}, err
	}
	ep := g.ep
	userScopes := oauth.UserScopes(g.scopes, c.cfg.excludeScopes)
	if rt, ok := c.cache.RefreshToken(ctx, cache.RefreshTokenQuery{
		Environment: g.env, ClientID: c.clientID, UserAssertionHash: g.hash,
	}); ok {
		c.log.debug(ctx, "flow: on-behalf-of: redeeming the assertion's refresh token",
			slog.Any("scopes", userScopes), slog.String("authority", ep.authority.String()), slog.Bool("claims", claims != ""))
		tok, err := c.redeem(ctx, tokenRequest{
			endpoints: ep,
			form:      oauth.RefreshTokenForm(c.clientID, userScopes, rt.Secret, merged),
			cred:      c.cred,
		})
		if err == nil {
			return c.onBehalfOfResult(ctx, g, tok, start), nil
		}
		var fe *Error
		if !errors.As(err, &fe) {
			return Result{}, err
		}
		c.log.debug(ctx, "flow: on-behalf-of: the refresh token was rejected; using the on-behalf-of grant",
			slog.String("error", fe.Code), slog.String("suberror", fe.Suberror))
	}
	c.log.debug(ctx, "flow: on-behalf-of: asking the authority",
		slog.Any("scopes", userScopes), slog.String("authority", ep.authority.String()), slog.Bool("claims", claims != ""))
	tok, err := c.redeem(ctx, tokenRequest{
		endpoints: ep,
		form:      oauth.OnBehalfOfForm(c.clientID, userScopes, g.assertion, merged),
		cred:      c.cred,
	})
	if err != nil {
		return Result{}, err
	}
	return c.onBehalfOfResult(ctx, g, tok, start), nil
}

// onBehalfOfResult caches the on-behalf-of response tok to g under the
// assertion's hash and returns it as a Result.
func (c *Confidential) onBehalfOfResult(ctx context.Context, g grant, tok *oauth.TokenResponse, start time.Time) Result {
	ep := g.ep
	r := Result{Token: tokenFromResponse(tok, g.scopes), IDToken: tok.IDToken}
	if tok.IDToken != "" {
		claims, err := jwtClaims(tok.IDToken)
		if err != nil {
			c.log.debug(ctx, "flow: the ID token cannot be read; the result has no claims", slog.String("error", err.Error()))
		}
		r.IDTokenClaims = claims
	}
	r.Account = newAccount(ep, tok.ClientInfo, r.IDTokenClaims)
	resp := cache.Response{
		Environment:       g.env,
		Realm:             g.realm,
		ClientID:          c.clientID,
		HomeAccountID:     r.Account.HomeAccountID,
		UserAssertionHash: g.hash,
		Scopes:            cachedScopes(tok.Scopes(), g.scopes),
		AccessToken:       tok.AccessToken,
		TokenType:         tok.TokenType,
		ExpiresOn:         tok.ExpiresOn,
		ExtendedExpiresOn: tok.ExtExpiresOn,
		RefreshOn:         tok.RefreshOn,
		RefreshToken:      tok.RefreshToken,
		FamilyID:          tok.FamilyID,
		IDToken:           tok.IDToken,
	}
	if !r.Account.IsZero() {
		ca := r.Account.cacheAccount()
		ca.ClientInfo = tok.RawClientInfo
		resp.Account = &ca
	}
	c.store(ctx, resp, c.cfg.clock())
	c.log.debug(ctx, "flow: on-behalf-of: token cached",
		slog.Any("scopes", resp.Scopes), slog.Bool("refresh_token", tok.RefreshToken != ""),
		slog.Time("expires_on", tok.ExpiresOn), slog.Duration("elapsed", time.Since(start)),
		c.log.pii("username", r.Account.Username), c.log.pii("oid", r.Account.LocalAccountID))
	return r
}
