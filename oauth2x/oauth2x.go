// Package oauth2x connects bearer to golang.org/x/oauth2, both ways.
//
// [Source] makes any [oauth2.TokenSource] (a [clientcredentials.Config]'s,
// a [golang.org/x/oauth2/google] credential's, your own) drive a
// [bearer.Transport], which adds what [oauth2.Transport] lacks: tokens go
// only to the hosts their scopes name and only over HTTPS, never to a host
// a redirect leads to, and a 401 challenge is answered instead of being
// handed back.
//
// [TokenSource] goes the other way: a bearer source (such as a
// [github.com/bearerhttp/bearer/flow] application's) serves code built on
// golang.org/x/oauth2, such as [oauth2.NewClient] or a client library that
// takes an [oauth2.TokenSource].
//
// [clientcredentials.Config]: https://pkg.go.dev/golang.org/x/oauth2/clientcredentials#Config
package oauth2x

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bearerhttp/bearer"
	"golang.org/x/oauth2"
)

// TokenSource returns an [oauth2.TokenSource] whose Token method asks src
// for a token for scopes, with ctx.
//
// ctx is used for every call, as [oauth2.Config.TokenSource] uses its
// context: give it one that lives as long as the returned source (not a
// request's), since [oauth2.TokenSource] has no context of its own.
//
// The returned source keeps no token: it asks src on every call. The
// sources of package flow cache their tokens; wrap any other source in
// [bearer.ReuseTokenSource]. Its tokens are Bearer tokens with Expiry set
// from [bearer.Token.ExpiresOn]; a token of another type (such as DPoP,
// which needs a proof with each request that only [bearer.Transport] can
// make) is an error.
//
// Code that reaches resources through [oauth2.Transport] gets none of
// [bearer.Transport]'s host safety or challenge recovery: that transport
// puts the token on every request it sends, redirects to other hosts
// included. Prefer [bearer.Transport] where the HTTP client is yours.
func TokenSource(ctx context.Context, src bearer.TokenSource, scopes ...string) oauth2.TokenSource {
	return &tokenSource{ctx: ctx, src: src, scopes: slices.Clone(scopes)}
}

type tokenSource struct {
	ctx    context.Context
	src    bearer.TokenSource
	scopes []string
}

// Token asks the bearer source for a token and converts it.
func (s *tokenSource) Token() (*oauth2.Token, error) {
	if s.src == nil {
		return nil, errors.New("oauth2x: TokenSource was given a nil bearer.TokenSource")
	}
	tok, err := s.src.Token(s.ctx, bearer.TokenRequest{Scopes: s.scopes})
	if err != nil {
		return nil, fmt.Errorf("oauth2x: %w", err)
	}
	if tok.AccessToken == "" {
		return nil, errors.New("oauth2x: the bearer.TokenSource returned an empty access token")
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "Bearer") {
		return nil, fmt.Errorf("oauth2x: the bearer.TokenSource returned a %q token, which only bearer.Transport can present", clip(tok.TokenType))
	}
	return &oauth2.Token{AccessToken: tok.AccessToken, TokenType: "Bearer", Expiry: tok.ExpiresOn}, nil
}

// Source returns a [bearer.TokenSource] over ts, for a [bearer.Transport].
//
// An [oauth2.TokenSource] is configured with its scopes and tenant and
// takes no request, so Source answers what ts can answer:
//
//   - Scopes are ts's own: the request's are not looked at (the
//     transport's Scopes still decide the hosts a token may go to, so name
//     the same scopes there).
//   - ForceRefresh (the transport's answer to error="invalid_token") calls
//     ts.Token again and uses whatever it returns. A caching source, such
//     as [oauth2.ReuseTokenSource] or the one
//     [clientcredentials.Config.TokenSource] returns, hands back the same
//     token until it expires, and the transport returns the 401 rather
//     than resend the token just refused (never a loop). For a refresh that really fetches, give
//     Source a source that fetches on every call and cache in front of it
//     with [bearer.ReuseTokenSource], which skips its cache on
//     ForceRefresh: see the example.
//   - Claims (a claims challenge) and a step-up challenge cannot be
//     carried by an oauth2.TokenSource: the error wraps
//     [bearer.ErrInteractionRequired], and the transport returns it in a
//     [*bearer.ChallengeError] together with the challenge.
//   - TenantID cannot be honoured either: the error wraps
//     [errors.ErrUnsupported].
//
// [oauth2.TokenSource] takes no context. Source returns ctx's error
// without calling ts when ctx has already ended; the ts.Token call itself
// is bounded by the context ts was built with (such as the one given to
// [clientcredentials.Config.TokenSource]), not by the request's.
//
// A token's type is ts's TokenType ("Bearer" when empty); its ExpiresOn
// is Expiry.
//
// [clientcredentials.Config.TokenSource]: https://pkg.go.dev/golang.org/x/oauth2/clientcredentials#Config.TokenSource
func Source(ts oauth2.TokenSource) bearer.TokenSource {
	return source{ts}
}

type source struct{ ts oauth2.TokenSource }

// Token implements [bearer.TokenSource].
func (s source) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	switch {
	case s.ts == nil:
		return bearer.Token{}, errors.New("oauth2x: Source was given a nil oauth2.TokenSource")
	case req.Claims != "":
		return bearer.Token{}, fmt.Errorf("oauth2x: an oauth2.TokenSource cannot ask for claims (a claims challenge): %w", bearer.ErrInteractionRequired)
	case req.Challenge != nil && req.Challenge.IsStepUp():
		return bearer.Token{}, fmt.Errorf("oauth2x: an oauth2.TokenSource cannot satisfy a step-up challenge: %w", bearer.ErrInteractionRequired)
	case req.TenantID != "":
		return bearer.Token{}, fmt.Errorf("oauth2x: an oauth2.TokenSource cannot get a token from tenant %q: %w", clip(req.TenantID), errors.ErrUnsupported)
	}
	if err := ctx.Err(); err != nil {
		return bearer.Token{}, err
	}
	tok, err := s.ts.Token()
	if err != nil {
		return bearer.Token{}, fmt.Errorf("oauth2x: %w", err)
	}
	if tok == nil {
		return bearer.Token{}, errors.New("oauth2x: the oauth2.TokenSource returned no token and no error")
	}
	return bearer.Token{AccessToken: tok.AccessToken, TokenType: tok.Type(), ExpiresOn: tok.Expiry}, nil
}

// TokenSourceFunc adapts an ordinary function to an [oauth2.TokenSource],
// typically one that fetches a new token on every call, such as
// [clientcredentials.Config.Token] bound to a context, for [Source] under
// [bearer.ReuseTokenSource].
//
// [clientcredentials.Config.Token]: https://pkg.go.dev/golang.org/x/oauth2/clientcredentials#Config.Token
type TokenSourceFunc func() (*oauth2.Token, error)

// Token calls f().
func (f TokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// clip shortens caller- or server-chosen text for an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
