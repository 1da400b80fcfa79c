package flow

import (
	"context"
	"fmt"

	"github.com/bearerhttp/bearer"
)

// ClientSource returns a [bearer.TokenSource] of the application's own
// tokens: each Token call is [Confidential.AcquireTokenForClient] for the
// request's scopes, with its Claims ([Claims]), TenantID ([Tenant]) and
// ForceRefresh ([ForceRefresh]). Its tokens are cached in the
// application's cache, so a [bearer.Transport] needs no
// [bearer.ReuseTokenSource] in front of it, and its cached path costs a
// cache lookup.
//
// A step-up challenge (a request whose Challenge asks for
// insufficient_user_authentication) needs a signed-in user, which an
// application's own token cannot have: Token returns an error wrapping
// [ErrInteractionRequired] without asking the authority.
func (c *Confidential) ClientSource() bearer.TokenSource { return clientSource{c} }

type clientSource struct{ c *Confidential }

func (s clientSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	if err := refuseStepUp(req, "an application's own token (client credentials)"); err != nil {
		return bearer.Token{}, err
	}
	r, err := s.c.forClient(ctx, req.Scopes, callConfigOf(req))
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// OnBehalfOfSource returns a [bearer.TokenSource] of tokens for the users
// calling a web API: each Token call is
// [Confidential.AcquireTokenOnBehalfOf] with the user's assertion carried
// by the context ([ContextWithUserAssertion], which
// [Confidential.Middleware] sets), for the request's scopes, Claims,
// TenantID and ForceRefresh. A context without an assertion is an error
// wrapping [ErrNoUserAssertion]. One [bearer.Transport] with this source
// serves every user: the identity travels with each request's context,
// and tokens are cached per assertion.
//
// A step-up challenge must be satisfied by the user at the web API's own
// client: Token returns an error wrapping [ErrInteractionRequired]
// without asking the authority; the web API passes the challenge on.
func (c *Confidential) OnBehalfOfSource() bearer.TokenSource { return oboSource{c} }

type oboSource struct{ c *Confidential }

func (s oboSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	assertion, ok := UserAssertionFromContext(ctx)
	if !ok {
		return bearer.Token{}, fmt.Errorf("%w (use flow.ContextWithUserAssertion or Confidential.Middleware)", ErrNoUserAssertion)
	}
	if err := refuseStepUp(req, "an on-behalf-of token (the user must step up at the web API's client)"); err != nil {
		return bearer.Token{}, err
	}
	r, err := s.c.onBehalfOf(ctx, assertion, req.Scopes, callConfigOf(req), false)
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// callConfigOf translates a source's request into call options.
func callConfigOf(req bearer.TokenRequest) callConfig {
	return callConfig{claims: req.Claims, tenant: req.TenantID, forceRefresh: req.ForceRefresh}
}

// refuseStepUp returns an error wrapping [ErrInteractionRequired] when req
// answers a step-up challenge, which what cannot satisfy.
func refuseStepUp(req bearer.TokenRequest, what string) error {
	if req.Challenge == nil || !req.Challenge.IsStepUp() {
		return nil
	}
	return fmt.Errorf("%w: the resource asks for a step-up (acr_values %q, max_age %q), which %s cannot satisfy",
		ErrInteractionRequired, req.Challenge.Param("acr_values"), req.Challenge.Param("max_age"), what)
}
