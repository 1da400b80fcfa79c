package flow

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/redact"
)

// Result is what every AcquireToken… call returns: the access token and
// what is known of it, and for user flows the ID token and the account.
//
// Its String, GoString, Format and LogValue methods never show the access
// token, the ID token or the refresh token, nor personal data (claim values, usernames):
// printing or logging a Result is safe.
type Result struct {
	// Token is the access token, its type, expiry, proactive refresh
	// time and granted scopes.
	bearer.Token
	// IDToken is the raw ID token of a user flow, when the authority sent
	// one (the openid scope); empty for client credentials. It is a
	// secret.
	IDToken string
	// IDTokenClaims are the ID token's claims, nil without an ID token.
	// A user flow verifies the ID token it receives before using it (see
	// [IDTokenError]); a result from the cache carries the claims of the
	// ID token verified when it was cached. Numbers are float64. Treat it
	// as read-only.
	IDTokenClaims map[string]any
	// Account is the signed-in user (or the user an on-behalf-of token
	// acts for); the zero Account for client credentials.
	Account Account
	// FromCache reports whether the token came from the cache rather
	// than from the authority.
	FromCache bool
	// RefreshToken is the refresh token the authority returned with the
	// token (user flows, as MSAL Python returns it); empty for a token
	// from the cache, for client credentials, and when the authority
	// sent none. It is a secret. It is cached already: an application
	// needs it only to hand it elsewhere.
	RefreshToken string
}

// redactedResult has Result's fields as String shows them.
type redactedResult struct {
	AccessToken   string
	TokenType     string
	ExpiresOn     time.Time
	RefreshOn     time.Time
	Scopes        []string
	IDToken       string
	IDTokenClaims string
	Account       Account
	FromCache     bool
	RefreshToken  string
}

func (r Result) redacted() redactedResult {
	return redactedResult{
		AccessToken:   hide(r.AccessToken),
		TokenType:     r.TokenType,
		ExpiresOn:     r.ExpiresOn,
		RefreshOn:     r.RefreshOn,
		Scopes:        r.Scopes,
		IDToken:       hide(r.IDToken),
		IDTokenClaims: claimNames(r.IDTokenClaims),
		Account:       r.Account,
		FromCache:     r.FromCache,
		RefreshToken:  hide(r.RefreshToken),
	}
}

// hide stands for a secret: REDACTED, or "" when there is none.
func hide(s string) string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// claimNames lists the names of claims, sorted, without their values.
func claimNames(claims map[string]any) string {
	if claims == nil {
		return ""
	}
	return "[" + strings.Join(slices.Sorted(maps.Keys(claims)), " ") + "]"
}

// String returns r's fields with the tokens redacted, the ID token's
// claims by name only and the account without personal data.
func (r Result) String() string { return redact.String(r.redacted()) }

// GoString is String, for %#v.
func (r Result) GoString() string { return redact.GoString("flow.Result", r.redacted()) }

// Format formats r like a struct for every verb and flag, with the access
// token, ID token and refresh token replaced by REDACTED.
func (r Result) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "flow.Result", r.redacted())
}

// LogValue presents r to log/slog without its tokens or personal data.
func (r Result) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", r.TokenType),
		slog.Time("expires_on", r.ExpiresOn),
		slog.Time("refresh_on", r.RefreshOn),
		slog.Any("scopes", r.Scopes),
		slog.Bool("id_token", r.IDToken != ""),
		slog.Bool("from_cache", r.FromCache),
		slog.Bool("refresh_token", r.RefreshToken != ""),
		slog.Any("account", r.Account),
	)
}
