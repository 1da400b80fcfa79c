package flow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// maxJWTBytes bounds the JWTs this package reads: ID tokens from the
// authority and the bearer tokens of web API callers.
const maxJWTBytes = 32 << 10

// errMalformedJWT is wrapped by the errors of [jwtClaims].
var errMalformedJWT = errors.New("flow: malformed JWT")

// jwtClaims decodes the claims of a compact JWS JWT (three base64url
// parts, the second a JSON object) without checking its signature: ID
// tokens come straight from the authority's token endpoint over TLS, as
// MSAL reads them (OpenID Connect Core 3.1.3.7 allows it). Numbers are
// float64, as encoding/json decodes them into a map. Errors never quote
// the token.
func jwtClaims(token string) (map[string]any, error) {
	if len(token) > maxJWTBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", errMalformedJWT, maxJWTBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", errMalformedJWT, len(parts))
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: the payload is not base64url", errMalformedJWT)
	}
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return nil, fmt.Errorf("%w: the payload is not a JSON object", errMalformedJWT)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("%w: the payload is not a JSON object", errMalformedJWT)
	}
	return claims, nil
}

// decodeSegment decodes a base64url JWT segment, unpadded as RFC 7515
// wants it (padding is tolerated).
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// claimString returns the string claim name, or "" when it is absent or
// not a string.
func claimString(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}
