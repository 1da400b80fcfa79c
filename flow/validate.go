package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// invalidTokenError is a check a caller's token failed. Its description
// says which check, in words fit for an RFC 6750 error_description (no
// quote or backslash), and never quotes the token or its claims.
type invalidTokenError struct{ desc string }

func (e *invalidTokenError) Error() string { return "flow: invalid token: " + e.desc }

func invalidToken(desc string) error { return &invalidTokenError{desc: desc} }

// tokenValidator checks the access tokens a web API's callers present:
// RS256 signatures by the authority's published keys, issuer, audience,
// lifetime and tenant.
type tokenValidator struct {
	app       *app
	authority authority
	audiences []string
	tenants   []string // allowed tenant IDs (WithAllowedTenants); empty means the authority's default
	issuers   []string // accepted besides the authority's, {tenantid} templates allowed
	skew      time.Duration
	// anyTenant is set for a common or organizations authority, whose
	// callers may come from any tenant.
	anyTenant bool
}

// jwsHeader is the protected header of a compact JWS, the fields checked.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  json.RawMessage `json:"b64"`
}

// validate checks token and returns its claims (numbers as float64). An
// error is an *invalidTokenError for a token that fails a check, or wraps
// errKeysUnavailable or ErrDiscovery when the authority could not be read.
func (v *tokenValidator) validate(ctx context.Context, token string) (map[string]any, error) {
	if len(token) > maxJWTBytes {
		return nil, invalidToken(fmt.Sprintf("the token is longer than %d bytes", maxJWTBytes))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, invalidToken("the token is not a JWT (three base64url parts separated by dots)")
	}
	// One token, one spelling: the signature check below (jwx) would
	// accept padding, the standard alphabet and stray trailing bits, and
	// the token's text becomes the on-behalf-of cache key.
	for i, p := range parts {
		if problem := segmentProblem(p); problem != "" {
			return nil, invalidToken("the token's " + jwsParts[i] + " is not canonical base64url (RFC 7515): it has " + problem)
		}
	}
	hb, err := decodeSegment(parts[0])
	var h jwsHeader
	if err != nil || !isJSONObject(hb) || json.Unmarshal(hb, &h) != nil {
		return nil, invalidToken("the token's header is not base64url JSON")
	}
	if h.Alg != jwa.RS256.String() {
		return nil, invalidToken("the token's signing algorithm is not RS256, the only one accepted")
	}
	if len(h.Crit) > 0 || len(h.B64) > 0 {
		return nil, invalidToken("the token's header has critical parameters this API does not accept")
	}
	if h.Kid == "" {
		return nil, invalidToken("the token's header names no signing key (kid)")
	}
	if parts[2] == "" {
		return nil, invalidToken("the token has no signature")
	}
	md, err := v.app.resolver.metadata(ctx, v.authority)
	if err != nil {
		return nil, err
	}
	if md.jwks == "" {
		return nil, fmt.Errorf("%w: the authority's discovery document has no jwks_uri", errKeysUnavailable)
	}
	key, err := v.app.keySetFor(md.jwks).key(ctx, md.jwks, h.Kid)
	if err != nil {
		if errors.Is(err, errUnknownKey) {
			return nil, invalidToken("the token's signing key (kid) is not one of the authority's published keys")
		}
		return nil, err
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.RS256, key))
	if err != nil {
		return nil, invalidToken("the token's signature does not verify")
	}
	if !isJSONObject(payload) {
		return nil, invalidToken("the token's payload is not a JSON object")
	}
	var claims map[string]any
	if json.Unmarshal(payload, &claims) != nil {
		return nil, invalidToken("the token's payload is not a JSON object")
	}
	if err := v.checkClaims(md, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkClaims checks the verified claims of a token: exp (required) and
// nbf with the allowed skew on the application's clock, aud, iss and tid.
func (v *tokenValidator) checkClaims(md *endpoints, claims map[string]any) error {
	now := v.app.cfg.clock()
	exp, ok := numericDate(claims["exp"])
	switch {
	case !ok:
		return invalidToken("the token has no valid exp (expiry) claim")
	case !now.Before(exp.Add(v.skew)):
		return invalidToken("the token expired")
	}
	if raw, present := claims["nbf"]; present {
		nbf, ok := numericDate(raw)
		if !ok {
			return invalidToken("the token's nbf (not before) claim is not a date")
		}
		if now.Add(v.skew).Before(nbf) {
			return invalidToken("the token is not valid yet (nbf)")
		}
	}
	if !v.audienceOK(claims["aud"]) {
		return invalidToken("the token's audience (aud) is not this API")
	}
	tid := claimString(claims, "tid")
	iss := claimString(claims, "iss")
	if iss == "" {
		return invalidToken("the token has no issuer (iss)")
	}
	if !v.issuerOK(md, iss, tid) {
		return invalidToken("the token's issuer (iss) is not the authority's")
	}
	if len(v.tenants) > 0 && !slices.ContainsFunc(v.tenants, func(t string) bool { return strings.EqualFold(t, tid) }) {
		return invalidToken("the token's tenant (tid) is not one this API accepts")
	}
	return nil
}

// audienceOK reports whether aud (a string or an array of strings) names
// one of the API's audiences.
func (v *tokenValidator) audienceOK(aud any) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(v.audiences, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(v.audiences, s) {
				return true
			}
		}
	}
	return false
}

// issuerOK reports whether iss is the authority's issuer, the issuer of
// its access tokens where its document names one (AD FS's
// access_token_issuer), or one of the accepted issuers, each with its
// {tenantid} template, if any, standing for issuerTenant.
func (v *tokenValidator) issuerOK(md *endpoints, iss, tid string) bool {
	tenant := v.issuerTenant(md, tid)
	is := func(want string) bool {
		if want == "" {
			return false
		}
		filled, err := issuerForTenant(want, tenant)
		return err == nil && filled == iss
	}
	return is(md.issuer) || is(md.accessTokenIssuer) || slices.ContainsFunc(v.issuers, is)
}

// issuerTenant returns the tenant the {tenantid} template of an issuer
// stands for in a token whose tid is tid, "" when none (no template can
// match): with [WithAllowedTenants], tid when it is one of them; for a
// common or organizations authority, tid; otherwise the authority's own
// tenant ID, whatever tenant the token names. Entra signs every tenant's
// tokens with the same keys, so a template filled from any token's tid
// would let every tenant's tokens in.
func (v *tokenValidator) issuerTenant(md *endpoints, tid string) string {
	switch {
	case len(v.tenants) > 0:
		if slices.ContainsFunc(v.tenants, func(t string) bool { return strings.EqualFold(t, tid) }) {
			return tid
		}
		return ""
	case v.anyTenant:
		return tid
	case isGUID(v.authority.tenant):
		return v.authority.tenant
	}
	return md.tenantID
}

// numericDate reads a JWT NumericDate (seconds since the epoch, possibly
// fractional).
func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}
