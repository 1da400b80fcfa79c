package flow

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrUnsupported is wrapped by the error of a call the application's
// authority does not support: admin consent outside Entra, a sign-out
// URL from an authority that publishes no end_session_endpoint, a
// username and password at B2C.
var ErrUnsupported = errors.New("flow: not supported by the authority")

// users is what the user flows need, shared by [Confidential] and
// [Public]: the application, and the credential of a confidential one
// (nil for a public client, which authenticates with nothing).
type users struct {
	*app
	cred credential.Credential
}

// users returns c's user flows.
func (c *Confidential) users() users { return users{app: c.app, cred: c.cred} }

// userResponse is what a user flow's token response is checked and cached
// with.
type userResponse struct {
	ep *endpoints
	// scopes are the scopes the caller asked for (without the reserved
	// ones the request added).
	scopes []string
	// check is what the ID token must satisfy.
	check idTokenCheck
	// needIDToken fails a response without an ID token (a sign-in that
	// sent a nonce asked for one).
	needIDToken bool
	// redeemed is the refresh token the request redeemed, cached when the
	// response brings no new one (AcquireTokenByRefreshToken).
	redeemed string
	// what names the flow in log records.
	what string
}

// finish verifies the ID token of a user flow's response, builds the
// account, caches the tokens under it and returns the Result. Nothing is
// cached from a response whose ID token fails verification, nor from one
// that names no user (no client_info and no ID token), whose tokens
// could not be found again and must never land among the application's
// own.
func (u users) finish(ctx context.Context, tok *oauth.TokenResponse, ur userResponse, start time.Time) (Result, error) {
	ep := ur.ep
	r := Result{Token: tokenFromResponse(tok, ur.scopes), IDToken: tok.IDToken, RefreshToken: tok.RefreshToken}
	if tok.IDToken != "" {
		claims, err := u.verifyIDToken(ctx, ep, tok.IDToken, ur.check)
		if err != nil {
			u.log.debug(ctx, "flow: "+ur.what+": the ID token was refused; nothing cached", slog.String("error", err.Error()))
			return Result{}, err
		}
		r.IDTokenClaims = claims
	} else if ur.needIDToken {
		return Result{}, idTokenErr("format", "the response has no ID token, and the sign-in asked for one (openid)")
	}
	r.Account = newAccount(ep, tok.ClientInfo, r.IDTokenClaims)
	if r.Account.IsZero() {
		u.log.debug(ctx, "flow: "+ur.what+": the response names no user (no client_info, no ID token): not cached")
		return r, nil
	}
	realm := tokenRealm(ep.authority)
	r.Account.TenantID = realm
	rt := tok.RefreshToken
	if rt == "" {
		rt = ur.redeemed
	}
	resp := cache.Response{
		Environment:       ep.environment,
		Realm:             realm,
		ClientID:          u.clientID,
		HomeAccountID:     r.Account.HomeAccountID,
		Scopes:            cachedScopes(tok.Scopes(), ur.scopes),
		AccessToken:       tok.AccessToken,
		TokenType:         tok.TokenType,
		ExpiresOn:         tok.ExpiresOn,
		ExtendedExpiresOn: tok.ExtExpiresOn,
		RefreshOn:         tok.RefreshOn,
		RefreshToken:      rt,
		FamilyID:          tok.FamilyID,
		IDToken:           tok.IDToken,
	}
	ca := r.Account.cacheAccount()
	ca.ClientInfo = tok.RawClientInfo
	resp.Account = &ca
	u.store(ctx, resp, u.cfg.clock())
	u.log.debug(ctx, "flow: "+ur.what+": tokens cached",
		slog.Any("scopes", resp.Scopes), slog.Bool("refresh_token", rt != ""), slog.Bool("id_token", tok.IDToken != ""),
		slog.Time("expires_on", tok.ExpiresOn), slog.Duration("elapsed", time.Since(start)),
		u.log.pii("username", r.Account.Username), u.log.pii("home_account_id", r.Account.HomeAccountID))
	return r, nil
}

// tokenRealm is the tenant a user's tokens from authority a are cached
// under (the MSAL cache's realm, [Account.TenantID]): the authority's
// tenant as configured (lower-cased), common and organizations included,
// as MSAL Go and MSAL Python write it (an OpenID Connect authority's
// issuer URL, as for every flow: see authority.realm), so that a cache shared with them
// holds one account per sign-in authority and each library finds the
// other's access tokens. The user's own tenant is the ID token's tid.
func tokenRealm(a authority) string { return a.realm() }

// randomString returns n random bytes, base64url encoded: states, nonces
// and PKCE verifiers.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read)
	return base64.RawURLEncoding.EncodeToString(b)
}

// familyAccounts adds to found the accounts at env (of username, if not
// empty) that hold a refresh token of Microsoft's family of client IDs,
// for an application the cache has no metadata of yet: it may belong to
// the family, and AcquireTokenSilent tries the family's refresh token
// for it (the authority refuses it if it does not).
func (a *app) familyAccounts(ctx context.Context, env, username string, found []cache.Account) []cache.Account {
	for _, ca := range a.cache.Accounts(ctx, cache.AccountFilter{Username: username, Environment: env}) {
		if slices.ContainsFunc(found, func(f cache.Account) bool { return f.Key() == ca.Key() }) {
			continue
		}
		rt, ok := a.cache.RefreshToken(ctx, cache.RefreshTokenQuery{
			Environment: env, ClientID: a.clientID, FamilyID: cache.FamilyFOCI, HomeAccountID: ca.HomeAccountID,
		})
		if ok && rt.FamilyID != "" {
			found = append(found, ca)
		}
	}
	return found
}
