package bearer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bearerhttp/bearer/challenge"
)

// Token is an access token and what is known of its life.
type Token struct {
	// AccessToken is the token itself. It is a secret: never log it.
	AccessToken string
	// TokenType is the scheme the token is presented with, usually "Bearer".
	// An empty TokenType means "Bearer".
	TokenType string
	// ExpiresOn is when the token stops being valid. The zero value means
	// the token never expires.
	ExpiresOn time.Time
	// RefreshOn, when not zero, is when a cache should start fetching a
	// replacement in the background while it keeps serving this token
	// (the authority's refresh_in).
	RefreshOn time.Time
	// Scopes are the scopes the token was granted for, when known.
	Scopes []string
	// Authorization, when not empty, is the value of the Authorization
	// header for the token, "Bearer " followed by AccessToken, built once
	// by a source that serves one token to many requests (a caching
	// source), so that [Transport] need not build it for every request.
	// Transport uses it only when it is exactly that value; otherwise it
	// builds the value itself. It is a secret, as AccessToken is.
	Authorization string
}

// bearerPrefix is what the Authorization header of a bearer token starts
// with.
const bearerPrefix = "Bearer "

// withAuthorization returns t with Authorization built, when t is a
// bearer token (see [Token.Authorization]).
func (t Token) withAuthorization() Token {
	if t.AccessToken != "" && (t.TokenType == "" || asciiEqualFold(t.TokenType, "Bearer")) {
		// AccessToken shares the value's bytes: one copy of the secret,
		// and authorizationValue compares the two at no cost.
		v := bearerPrefix + t.AccessToken
		t.Authorization, t.AccessToken = v, v[len(bearerPrefix):]
	}
	return t
}

// authorizationValue returns the Authorization header value of t: its
// Authorization when that is "Bearer " followed by AccessToken (a
// comparison that costs nothing more when the two share their bytes, as
// they do from the caches of this module), else built now.
func (t *Token) authorizationValue() string {
	if v := t.Authorization; len(v) == len(bearerPrefix)+len(t.AccessToken) &&
		v[:len(bearerPrefix)] == bearerPrefix && v[len(bearerPrefix):] == t.AccessToken {
		return v
	}
	return bearerPrefix + t.AccessToken
}

// plainToken is how a Token prints: its fields but Authorization (which
// only repeats AccessToken), and none of its methods.
type plainToken struct {
	AccessToken string
	TokenType   string
	ExpiresOn   time.Time
	RefreshOn   time.Time
	Scopes      []string
}

// redacted returns t's printed form with its access token replaced by
// "REDACTED".
func (t Token) redacted() plainToken {
	p := plainToken{AccessToken: t.AccessToken, TokenType: t.TokenType, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn, Scopes: t.Scopes}
	if p.AccessToken != "" {
		p.AccessToken = "REDACTED"
	}
	return p
}

// String returns t's fields with the access token redacted.
func (t Token) String() string { return fmt.Sprint(t) }

// Format formats t like a struct, for every verb and flag (%v, %+v, %#v,
// %s…), with the access token replaced by "REDACTED", so that printing or
// logging a Token never shows the secret.
func (t Token) Format(f fmt.State, verb rune) {
	type Token plainToken // %#v prints bearer.Token{…}
	fmt.Fprintf(f, fmt.FormatString(f, verb), Token(t.redacted()))
}

// LogValue presents t to [log/slog] without the access token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("access_token", t.redacted().AccessToken),
		slog.String("token_type", t.TokenType),
		slog.Time("expires_on", t.ExpiresOn),
		slog.Time("refresh_on", t.RefreshOn),
		slog.Any("scopes", t.Scopes),
	)
}

// TokenRequest describes the token a [Transport] asks a [TokenSource] for.
type TokenRequest struct {
	// Scopes are the scopes the token must carry. The slice belongs to
	// the caller: a source must not modify it.
	Scopes []string
	// Claims is the decoded JSON of a claims challenge (without client
	// capabilities, which the source adds itself). A source that receives
	// claims must not answer from its cache; the new token replaces the
	// cached one.
	Claims string
	// TenantID, when not empty, asks for a token from this tenant instead
	// of the source's default.
	TenantID string
	// ForceRefresh asks the source to skip its cache and fetch a new token
	// (which then replaces the cached one).
	//
	// When [Transport] recovers from a 401 invalid_token, it sets both
	// ForceRefresh and Challenge (the invalid_token challenge). A caching
	// source may then limit how often it asks its authority, as
	// [ReuseTokenSource] and the sources of package flow do (one such
	// refresh per key every 30 seconds, serving the cached token in
	// between), so that a resource refusing every token cannot turn each
	// of its 401s into a token request. A ForceRefresh without a
	// Challenge, a caller's own, always asks the authority.
	ForceRefresh bool
	// Challenge is the challenge that caused this request, nil otherwise.
	// A source reads step-up parameters (acr_values, max_age) from it.
	Challenge *challenge.Challenge
}

// TokenSource supplies access tokens.
//
// Token may be called concurrently. It must honour ctx, and it returns
// an error wrapping [ErrInteractionRequired] when only a signed-in user
// could satisfy req.
type TokenSource interface {
	Token(ctx context.Context, req TokenRequest) (Token, error)
}

// TokenSourceFunc adapts an ordinary function to a [TokenSource].
type TokenSourceFunc func(ctx context.Context, req TokenRequest) (Token, error)

// Token calls f(ctx, req).
func (f TokenSourceFunc) Token(ctx context.Context, req TokenRequest) (Token, error) {
	return f(ctx, req)
}

// ErrInteractionRequired is wrapped by the error a [TokenSource] returns
// when only a signed-in user can satisfy the request, for example a
// step-up challenge received by a daemon.
var ErrInteractionRequired = errors.New("bearer: user interaction required")
