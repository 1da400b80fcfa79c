// Package challenge reads WWW-Authenticate challenges (RFC 9110 §11.6.1)
// as real services send them, and tells what a challenge asks for.
//
// [Parse] follows the RFC grammar (several challenges in one value, token68,
// quoted strings with backslash escapes, case-insensitive names, empty list
// elements) and also reads what services really send: unquoted values that
// contain ':' and '/', parameters without commas between them, as Azure
// Storage writes
//
//	Bearer authorization_uri=https://login.microsoftonline.com/{tenant}/oauth2/authorize resource_id=https://storage.azure.com
//
// trailing spaces, and a malformed challenge followed by a good one.
// Regular-expression readers such as azcore's (which wants \w+="[^"]*") and
// Kiota's (which wants "([^"]*)") require quoted values: they miss such
// challenges, and Kiota's indexes past the end of its failed match and
// panics. This package's tests run both beside its own reading.
//
// Input is bounded: a header value over [MaxHeaderBytes] or a claims
// parameter over [MaxClaimsBytes] is refused with an error wrapping
// [ErrTooLarge]; no input makes the parser panic.
//
// The classifiers ([Challenge.IsCAE], [Challenge.IsStepUp],
// [Challenge.IsDPoPNonce], [Challenge.IsInvalidToken]) say what a challenge
// asks the client to do; [Challenge.Claims] decodes a claims challenge and
// [Merge] combines claims requests.
package challenge

import (
	"sort"
	"strings"
)

// Challenge is one authentication challenge of a WWW-Authenticate header.
type Challenge struct {
	// Scheme is the authentication scheme as written, such as "Bearer".
	Scheme string
	// Token68 is the token68 form of the challenge's credentials, if any.
	Token68 string
	// Params holds the auth-params, names lower-cased, values unquoted.
	Params map[string]string
}

// Param returns the value of the parameter name (matched
// case-insensitively), or "" when the challenge has no such parameter.
func (c Challenge) Param(name string) string {
	if v, ok := c.Params[name]; ok {
		return v
	}
	return c.Params[strings.ToLower(name)]
}

// isOAuth reports whether c uses one of the OAuth 2.0 token schemes whose
// challenges carry RFC 6750 error codes: Bearer (RFC 6750) and DPoP
// (RFC 9449 §7.1, which reuses those codes).
func (c Challenge) isOAuth() bool {
	return strings.EqualFold(c.Scheme, "Bearer") || strings.EqualFold(c.Scheme, "DPoP")
}

func (c Challenge) hasError(code string) bool {
	return c.isOAuth() && strings.EqualFold(c.Params["error"], code)
}

// IsCAE reports whether c is a claims challenge, as sent by Continuous
// Access Evaluation and Conditional Access: a Bearer or DPoP challenge with
// error="insufficient_claims" and a non-empty claims parameter. A
// challenge with that error but no claims cannot be acted upon and is not
// a claims challenge. IsCAE does not decode the claims: [Challenge.Claims]
// does, and may still fail.
func (c Challenge) IsCAE() bool {
	return c.hasError("insufficient_claims") && c.Params["claims"] != ""
}

// IsStepUp reports whether c is a step-up authentication challenge
// (RFC 9470): a Bearer or DPoP challenge with
// error="insufficient_user_authentication". Its acr_values and max_age
// parameters say what authentication the resource wants.
func (c Challenge) IsStepUp() bool {
	return c.hasError("insufficient_user_authentication")
}

// IsDPoPNonce reports whether c asks for a DPoP proof carrying a
// server-provided nonce (RFC 9449 §9): a DPoP or Bearer challenge with
// error="use_dpop_nonce". The nonce itself travels in the response's
// DPoP-Nonce header, not in the challenge.
func (c Challenge) IsDPoPNonce() bool {
	return c.hasError("use_dpop_nonce")
}

// IsInvalidToken reports whether c says the access token was expired,
// revoked or otherwise invalid (RFC 6750 §3.1): a Bearer or DPoP challenge
// with error="invalid_token".
func (c Challenge) IsInvalidToken() bool {
	return c.hasError("invalid_token")
}

// String formats c as a WWW-Authenticate challenge: the scheme, then the
// token68 or the parameters in name order, every value quoted. [Parse]
// reads the result back to an equal Challenge.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	if c.Token68 != "" {
		b.WriteByte(' ')
		b.WriteString(c.Token68)
		return b.String()
	}
	names := make([]string, 0, len(c.Params))
	for n := range c.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(n)
		b.WriteString(`="`)
		v := c.Params[n]
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(v[j])
		}
		b.WriteByte('"')
	}
	return b.String()
}
