package flow

import (
	"context"
	"net/url"

	"github.com/bearerhttp/bearer"
)

// InitiateAuthCodeFlow starts signing a user in through the authorization
// code flow with PKCE (RFC 7636, S256), as MSAL's initiate_auth_code_flow:
// it returns the [AuthCodeFlow] to keep in the user's session, whose
// AuthURI the user's browser goes to. Nothing is sent to the authority
// (but its discovery document, for an authority whose endpoints are not
// known).
//
// scopes are the API scopes to consent to (such as User.Read; none to
// only sign in); openid, offline_access and profile are added (see
// [WithExcludeScopes]). redirectURI must be registered with the
// application. The flow has a random state (or [State]'s), a random nonce
// and a random PKCE verifier. [Prompt], [LoginHint], [DomainHint],
// [MaxAge], [ACRValues], [ResponseMode] and [Claims] (merged with
// [WithCapabilities]) shape the request; [Authority] and [Tenant] send it
// to another tenant, where its code is then redeemed. Any other option
// fails with [ErrInvalidOption].
func (c *Confidential) InitiateAuthCodeFlow(ctx context.Context, scopes []string, redirectURI string, opts ...CallOption) (AuthCodeFlow, error) {
	return c.users().initiateAuthCodeFlow(ctx, scopes, redirectURI, opts)
}

// AcquireTokenByAuthCodeFlow completes the sign-in f started: response is
// what the authority sent to the redirect URI (the query, or the form of
// a form_post). The response's state must be f's, else the call fails
// with [ErrStateMismatch] before any request (a forged or stale response);
// an error response (access_denied when the user declined, invalid_scope…)
// is an [*Error]; the code is redeemed once, with f's PKCE verifier, and
// never retried. The ID token is verified (see [IDTokenError]), its nonce
// included, and its auth_time when f has a max_age. The tokens are cached
// under the user's [Account], which the Result carries: give it to
// AcquireTokenSilent or AccountSource for later tokens. [Claims] adds
// claims to the redemption; any other option fails with
// [ErrInvalidOption].
func (c *Confidential) AcquireTokenByAuthCodeFlow(ctx context.Context, f AuthCodeFlow, response url.Values, opts ...CallOption) (Result, error) {
	return c.traceOneShot(ctx, KindAuthorizationCode, f.Scopes, opts, func(ctx context.Context) (Result, error) {
		return c.users().acquireByAuthCodeFlow(ctx, f, response, opts)
	})
}

// AuthorizationRequestURL returns an authorization request URL made by
// hand, as MSAL's get_authorization_request_url: without [State], [Nonce]
// and [PKCE] it has none of them, and the caller checks the response
// itself. Prefer InitiateAuthCodeFlow, which makes and checks them all.
// It takes the options of InitiateAuthCodeFlow, [Nonce] and [PKCE].
func (c *Confidential) AuthorizationRequestURL(ctx context.Context, scopes []string, redirectURI string, opts ...CallOption) (string, error) {
	return c.users().authorizationRequestURL(ctx, scopes, redirectURI, opts)
}

// AcquireTokenByAuthorizationCode redeems an authorization code the
// caller got itself (after AuthorizationRequestURL), as MSAL's legacy
// acquire_token_by_authorization_code: redirectURI is the request's, and
// [PKCE] gives the verifier when the request sent a challenge. The code is
// redeemed once, never retried. The ID token is verified (see
// [IDTokenError]); its nonce only with [Nonce], its auth_time only with
// [MaxAge]. [Claims], [Tenant] and [Authority] apply as to every
// AcquireToken… call.
func (c *Confidential) AcquireTokenByAuthorizationCode(ctx context.Context, code, redirectURI string, scopes []string, opts ...CallOption) (Result, error) {
	return c.traceOneShot(ctx, KindAuthorizationCode, scopes, opts, func(ctx context.Context) (Result, error) {
		return c.users().acquireByAuthorizationCode(ctx, code, redirectURI, scopes, opts)
	})
}

// AcquireTokenSilent returns a token for a signed-in user's account
// (from a Result or Accounts) without the user: a cached access token for
// scopes when a usable one is there; else one from the account's cached
// refresh token (the family's first, so that apps of one family of client
// IDs share sign-ins), whose rotated successor replaces it in the cache;
// else an [*InteractionError] (matching [ErrInteractionRequired]) carrying
// the authority's error and claims, when there is no refresh token or the
// authority refused it (expired, revoked, consent or MFA required): the
// user must sign in again, with [InteractionError.SignInOptions].
//
// [ForceRefresh] and [Claims] skip the cached access token (the claims go
// with the refresh token, merged with [WithCapabilities]); [Tenant] and
// [Authority] ask for a token from another tenant the user belongs to (a
// guest tenant). A token past its RefreshOn is served and refreshed in the
// background, and concurrent identical calls share one request, as for
// AcquireTokenForClient.
func (c *Confidential) AcquireTokenSilent(ctx context.Context, scopes []string, account Account, opts ...CallOption) (Result, error) {
	cc, err := newCallConfigFor("AcquireTokenSilent", usedByAcquire|optForceRefresh, opts...)
	if err != nil {
		return Result{}, err
	}
	return c.users().silent(ctx, scopes, account, cc, true)
}

// AcquireTokenByRefreshToken redeems a refresh token obtained elsewhere
// (another library's cache, a previous version of the application), to
// migrate it: the tokens returned, the refresh token included, are cached
// under the user's account (from client_info or the verified ID token),
// so later calls use AcquireTokenSilent. A refresh token the authority
// refuses (expired, revoked) gives an [*InteractionError]. [Claims],
// [Tenant] and [Authority] apply.
func (c *Confidential) AcquireTokenByRefreshToken(ctx context.Context, refreshToken string, scopes []string, opts ...CallOption) (Result, error) {
	return c.traceOneShot(ctx, KindRefreshToken, scopes, opts, func(ctx context.Context) (Result, error) {
		return c.users().acquireByRefreshToken(ctx, refreshToken, scopes, opts)
	})
}

// AcquireTokenByUsernamePassword signs a user in with a username and
// password (the resource owner password grant), as MSAL's
// acquire_token_by_username_password. It is for legacy cases only: it
// cannot do multi-factor authentication or consent, and Microsoft
// discourages it. For an Entra authority, user realm discovery comes
// first: a federated domain fails with [ErrFederatedUser]. A user who must
// complete MFA or consent gets an [*InteractionError] (matching
// [ErrInteractionRequired]). The password is never logged or put in an
// error. [Claims], [Tenant] and [Authority] apply.
func (c *Confidential) AcquireTokenByUsernamePassword(ctx context.Context, username, password string, scopes []string, opts ...CallOption) (Result, error) {
	return c.traceOneShot(ctx, KindUsernamePassword, scopes, opts, func(ctx context.Context) (Result, error) {
		return c.users().acquireByUsernamePassword(ctx, username, password, scopes, opts)
	})
}

// Accounts returns the accounts of the users signed in to this
// application whose tokens the cache holds (through any user flow of this
// application, or of an application of its family sharing the cache), at
// the application's authority host; with username, only that user's
// accounts (compared case-insensitively). On-behalf-of tokens belong to
// their assertion, not to an account, and are not listed.
func (c *Confidential) Accounts(ctx context.Context, username string) ([]Account, error) {
	return c.accounts(ctx, username)
}

// RemoveAccount removes an account and its tokens from the cache: its
// access and ID tokens in every tenant, and its refresh tokens of this
// application (or of its family of applications). With a persistent cache
// store, the stored partition is updated too; a store failure is returned
// (memory is cleared regardless). The user is not signed out of the
// authority: see LogoutURL.
func (c *Confidential) RemoveAccount(ctx context.Context, account Account) error {
	return c.removeAccount(ctx, account)
}

// AccountSource returns a [bearer.TokenSource] of a signed-in user's
// tokens: each Token call is AcquireTokenSilent for account with the
// request's scopes, Claims (a claims challenge's, sent with the refresh
// token), TenantID and ForceRefresh. Give it to a [bearer.Transport] to
// call an API as the user. With [WithDPoP], its tokens are DPoP-bound and
// it puts them on requests itself, as [Confidential.ClientSource] does.
//
// When only the user can satisfy a request (no refresh token, one the
// authority refuses, a claims challenge the authority answers with
// interaction_required, or a step-up challenge asking for acr_values or
// max_age, which is never sent to the authority), Token returns an
// [*InteractionError] matching [ErrInteractionRequired] that says what
// the sign-in must ask for ([InteractionError.SignInOptions]): a web app
// sends the user back to sign in.
//
// Forced refreshes answering [bearer.Transport]'s invalid_token recovery
// are limited as [Confidential.ClientSource]'s are, per account, tenant
// and set of scopes: a resource refusing every token costs one refresh
// token redemption every 30 seconds, not one per HTTP request.
func (c *Confidential) AccountSource(account Account) bearer.TokenSource {
	return c.sourceOf(accountSource{u: c.users(), acct: account, forced: &c.forced})
}

// LogoutURL returns the URL that signs the user out of the authority
// (OpenID Connect RP-initiated logout: the authority's
// end_session_endpoint with client_id and post_logout_redirect_uri, which
// may be empty), to send the user's browser to after RemoveAccount. An
// authority that publishes no end_session_endpoint gives an error
// wrapping [ErrUnsupported]. [State], [Tenant] and [Authority] apply.
func (c *Confidential) LogoutURL(ctx context.Context, postLogoutRedirectURI string, opts ...CallOption) (string, error) {
	return c.users().logoutURL(ctx, postLogoutRedirectURI, opts)
}
