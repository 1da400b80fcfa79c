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
		return nil, fmt.Errorf("%w: the payload is %w", errMalformedJWT, err)
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

// decodeSegment decodes a JWT segment in the one spelling RFC 7515 allows
// (see segmentProblem). An error never quotes s.
func decodeSegment(s string) ([]byte, error) {
	if p := segmentProblem(s); p != "" {
		return nil, errors.New("not canonical base64url: it has " + p)
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// base64urlValue is the value of each base64url character (RFC 4648 §5),
// 0xff for any other byte.
var base64urlValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// segmentProblem returns what keeps s from being a JWT segment in the one
// spelling RFC 7515 allows: base64url (RFC 4648 §5) without padding, with
// the unused bits of the last character zero, as
// base64.RawURLEncoding.Strict() decodes (which also skips CR and LF,
// refused here). "" means s is that spelling. Decoders that accept more
// (padding, the standard alphabet, stray trailing bits: jwx does) read
// many spellings of one token alike, while anything keyed by the token's
// text (the on-behalf-of cache) tells them apart. The answer never quotes
// s: it is a fixed phrase, fit for an RFC 6750 error_description.
func segmentProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if base64urlValue[s[i]] != 0xff {
			continue
		}
		switch s[i] {
		case '=':
			return "padding ('='), which RFC 7515 leaves out"
		case '+', '/':
			return "characters of the standard base64 alphabet ('+' or '/') instead of base64url ('-' or '_')"
		}
		return "a character outside base64url"
	}
	switch len(s) % 4 {
	case 1:
		return "a length no base64 encoding has"
	case 2:
		if base64urlValue[s[len(s)-1]]&0x0f != 0 {
			return nonZeroTrailingBits
		}
	case 3:
		if base64urlValue[s[len(s)-1]]&0x03 != 0 {
			return nonZeroTrailingBits
		}
	}
	return ""
}

const nonZeroTrailingBits = "non-zero unused bits in its last character (another spelling of the same bytes)"

// The names of the parts of a compact JWS and JWE (RFC 7515 §7.1, RFC
// 7516 §7.1), for error messages.
var (
	jwsParts = [...]string{"header", "payload", "signature"}
	jweParts = [...]string{"header", "encrypted key", "initialization vector", "ciphertext", "authentication tag"}
)

// compactProblem returns what keeps token from being a compact JWS (three
// parts) or JWE (five parts) in the one spelling RFC 7515 allows: the part
// at fault ("" for the token as a whole) and the problem, both fixed
// phrases that never quote the token; "", "" when it is one. It allocates
// nothing for a good token.
func compactProblem(token string) (part, problem string) {
	var names []string
	switch strings.Count(token, ".") + 1 {
	case len(jwsParts):
		names = jwsParts[:]
	case len(jweParts):
		names = jweParts[:]
	default:
		return "", "is not a compact JWT (three or five base64url parts separated by dots)"
	}
	rest := token
	for _, name := range names {
		var seg string
		seg, rest, _ = strings.Cut(rest, ".")
		if name == "header" && seg == "" {
			return name, "is empty"
		}
		if p := segmentProblem(seg); p != "" {
			return name, "is not canonical base64url (RFC 7515): it has " + p
		}
	}
	return "", ""
}

// claimString returns the string claim name, or "" when it is absent or
// not a string.
func claimString(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}
