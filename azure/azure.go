// Package azure connects bearer to the Azure SDK for Go, both ways.
//
// [Credential] makes any [bearer.TokenSource] (a
// [github.com/bearerhttp/bearer/flow] application's, for example) an
// [azcore.TokenCredential], so Azure SDK clients (Key Vault, Storage,
// Resource Manager…) and azcore's BearerTokenPolicy get their tokens from
// it, claims challenges included.
//
// [Source] goes the other way: an azcore.TokenCredential, such as an
// azidentity credential, drives a [bearer.Transport], which puts its
// tokens on plain net/http requests, only for the hosts the scopes name,
// and answers the resource's claims challenges.
//
// This package is a module of its own (github.com/bearerhttp/bearer/azure),
// so azcore stays out of the dependencies of code that does not use it.
package azure

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/bearerhttp/bearer"
)

// Credential returns an [azcore.TokenCredential] whose GetToken asks src
// for a token.
//
// The request's Scopes, Claims and TenantID pass through to
// [bearer.TokenRequest] as they are: Claims (the decoded claims of a
// challenge, which azcore's BearerTokenPolicy fills in after a CAE
// challenge) make a bearer source skip its cache, and TenantID asks for a
// token from that tenant (a source that cannot change tenants fails).
//
// EnableCAE needs no counterpart: whether tokens are CAE-ready is the
// application's choice, made once with
// [github.com/bearerhttp/bearer/flow.WithCapabilities]("cp1"), which adds
// the client capabilities to every token request. BearerTokenPolicy always
// asks with EnableCAE set and handles the challenges that follow, as
// [bearer.Transport] does.
//
// A token's RefreshOn passes through, so the policy refreshes it when the
// authority suggested. A token of a type other than Bearer (such as DPoP,
// whose proof only [bearer.Transport] makes) is an error.
//
// Credential(Source(cred)) returns cred itself.
func Credential(src bearer.TokenSource) azcore.TokenCredential {
	if s, ok := src.(*source); ok {
		return s.cred
	}
	return &credentialOf{src: src}
}

type credentialOf struct{ src bearer.TokenSource }

// GetToken implements [azcore.TokenCredential].
func (c *credentialOf) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if c.src == nil {
		return azcore.AccessToken{}, errors.New("azure: Credential was given a nil bearer.TokenSource")
	}
	tok, err := c.src.Token(ctx, bearer.TokenRequest{Scopes: opts.Scopes, Claims: opts.Claims, TenantID: opts.TenantID})
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("azure: %w", err)
	}
	if tok.AccessToken == "" {
		return azcore.AccessToken{}, errors.New("azure: the bearer.TokenSource returned an empty access token")
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "Bearer") {
		return azcore.AccessToken{}, fmt.Errorf("azure: the bearer.TokenSource returned a %q token, which only bearer.Transport can present", clip(tok.TokenType))
	}
	return azcore.AccessToken{Token: tok.AccessToken, ExpiresOn: tok.ExpiresOn, RefreshOn: tok.RefreshOn}, nil
}

// Source returns a [bearer.TokenSource] whose Token calls cred.GetToken,
// for a [bearer.Transport].
//
// The request's Scopes, Claims and TenantID pass through to
// [policy.TokenRequestOptions]; EnableCAE is always set, since
// [bearer.Transport] handles claims challenges (azidentity credentials
// then ask for CAE-ready tokens, and with Claims skip their cache).
//
// An azcore credential has no way to skip its cache without claims, so
// ForceRefresh (the transport's answer to error="invalid_token") calls
// GetToken again and uses whatever it returns; for the cached token just
// refused, the transport returns the 401 without a resend, never a loop. A step-up
// challenge (RFC 9470) cannot be carried by GetToken: the error wraps
// [bearer.ErrInteractionRequired], and the transport returns it in a
// [*bearer.ChallengeError] with the challenge.
//
// [bearer.Transport] asks its source on every request, and a GetToken call
// can cost more than a lookup in a map (azidentity's goes through MSAL's
// cache, under a lock): wrap the source in [bearer.ReuseTokenSource] for a
// busy client. Its cache is skipped for claims and ForceRefresh, as Source
// needs.
//
// Source(Credential(src)) returns src itself.
func Source(cred azcore.TokenCredential) bearer.TokenSource {
	if c, ok := cred.(*credentialOf); ok {
		return c.src
	}
	return &source{cred: cred}
}

type source struct{ cred azcore.TokenCredential }

// Token implements [bearer.TokenSource].
func (s *source) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	if s.cred == nil {
		return bearer.Token{}, errors.New("azure: Source was given a nil azcore.TokenCredential")
	}
	if req.Claims == "" && req.Challenge != nil && req.Challenge.IsStepUp() {
		return bearer.Token{}, fmt.Errorf("azure: an azcore.TokenCredential cannot satisfy a step-up challenge: %w", bearer.ErrInteractionRequired)
	}
	tok, err := s.cred.GetToken(ctx, policy.TokenRequestOptions{
		Scopes:    req.Scopes,
		Claims:    req.Claims,
		TenantID:  req.TenantID,
		EnableCAE: true,
	})
	if err != nil {
		return bearer.Token{}, fmt.Errorf("azure: %w", err)
	}
	return bearer.Token{AccessToken: tok.Token, TokenType: "Bearer", ExpiresOn: tok.ExpiresOn, RefreshOn: tok.RefreshOn}, nil
}

// clip shortens caller- or server-chosen text for an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
