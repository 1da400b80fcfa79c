package bearer

import (
	"context"
	"errors"
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
}

// TokenRequest describes the token a [Transport] asks a [TokenSource] for.
type TokenRequest struct {
	// Scopes are the scopes the token must carry.
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
