package flow

import (
	"context"
	"fmt"
	"strings"
)

// acquireByRefreshToken is AcquireTokenByRefreshToken.
func (u users) acquireByRefreshToken(ctx context.Context, refreshToken string, scopes []string, opts []CallOption) (Result, error) {
	cc, err := newCallConfigFor("AcquireTokenByRefreshToken", usedByAcquire, opts...)
	if err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(refreshToken) == "" {
		return Result{}, fmt.Errorf("%w: the refresh token is empty", ErrInvalidOption)
	}
	if err := checkScopes(scopes); err != nil {
		return Result{}, err
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return Result{}, err
	}
	r, err := u.redeemRefreshToken(ctx, ep, scopes, refreshToken, cc.claims, "refresh token")
	if err != nil {
		return Result{}, interactionFrom(err, "the authority refused the refresh token", cc.claims)
	}
	return r, nil
}
