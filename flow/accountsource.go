package flow

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
)

// accountSource is the source of AccountSource.
type accountSource struct {
	u    users
	acct Account
	// forced limits the forced refreshes of bearer.Transport's
	// invalid_token recovery, per account (in its tenant), requested
	// tenant and set of scopes, as ClientSource's are: each would redeem
	// the account's refresh token.
	forced *forcedRefreshes
}

func (s accountSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	if req.Challenge != nil && req.Challenge.IsStepUp() {
		return bearer.Token{}, stepUpError(req)
	}
	if isInvalidTokenRecovery(req) {
		return s.forced.do(ctx, s.u.app, forcedKey("account", s.acct.HomeAccountID+"\x00"+s.acct.Environment+"\x00"+s.acct.TenantID, req), callConfigOf(req), func(cc callConfig) (Result, error) {
			return s.u.silent(ctx, req.Scopes, s.acct, cc, false)
		})
	}
	r, err := s.u.silent(ctx, req.Scopes, s.acct, callConfigOf(req), false)
	if err != nil {
		return bearer.Token{}, err
	}
	return r.Token, nil
}

// stepUpError is the *InteractionError for a step-up challenge (RFC 9470
// insufficient_user_authentication): the user must sign in again with
// its acr_values and max_age, which no refresh token can satisfy.
func stepUpError(req bearer.TokenRequest) *InteractionError {
	ie := &InteractionError{
		Reason: "the resource asks for a step-up: the user must sign in again with the authentication it names",
		Claims: req.Claims,
	}
	ch := req.Challenge
	ie.ACRValues = strings.Fields(strings.ReplaceAll(ch.Param("acr_values"), ",", " "))
	if v := strings.TrimSpace(ch.Param("max_age")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<31 {
			ie.MaxAge, ie.HasMaxAge = time.Duration(n)*time.Second, true
		}
	}
	return ie
}
