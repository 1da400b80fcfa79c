package bearer

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/bearerhttp/bearer/challenge"
)

var (
	// ErrInsecure is wrapped by the error [Transport.RoundTrip] returns,
	// before asking for any token, for a request to an allowed host over
	// plain HTTP when the host is not loopback and [Transport.AllowHTTP]
	// is false; or when it is loopback but the base transport's proxy
	// would carry the request, and so the token, off the machine.
	ErrInsecure = errors.New("bearer: a token is sent only over https (plain http only to loopback, or with Transport.AllowHTTP)")
	// ErrNoAllowedHost is wrapped by the error [Transport.RoundTrip]
	// returns when the transport allows no host at all: AllowedHosts is
	// empty and no scope names a host.
	ErrNoAllowedHost = errors.New("bearer: the transport allows no host: set Transport.AllowedHosts, or use https:// or Microsoft Graph scopes")
)

// ChallengeError is the error [Transport.RoundTrip] returns when a
// resource answered 401 with a challenge the transport acts upon (claims,
// step-up, invalid token) and its source could not get the token asked
// for: a step-up that needs a signed-in user (Err wraps
// [ErrInteractionRequired]), or any other source error.
//
// The 401 response has been drained and closed; its status and header are
// kept here. [net/http.Client] wraps the error in a [*net/url.Error]: use
// errors.As to find it.
type ChallengeError struct {
	// StatusCode is the status of the response that carried the
	// challenge (401).
	StatusCode int
	// Header is the header of that response.
	Header http.Header
	// Challenge is the challenge the transport tried to satisfy.
	Challenge challenge.Challenge
	// Err is the token source's error.
	Err error
}

// Error says which challenge could not be satisfied and why. It holds no
// token: only the status, the challenge's scheme and error code, and the
// source's error.
func (e *ChallengeError) Error() string {
	code := e.Challenge.Param("error")
	if code == "" {
		code = "none"
	}
	return fmt.Sprintf("bearer: %d %s challenge (error %q) not satisfied: %v",
		e.StatusCode, clip(e.Challenge.Scheme), clip(code), e.Err)
}

// Unwrap returns Err.
func (e *ChallengeError) Unwrap() error { return e.Err }

// clip shortens server-chosen text for an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
