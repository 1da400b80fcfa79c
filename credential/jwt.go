package credential

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/internal/uuid"
)

// registeredClaims are the claims a client assertion sets itself, in
// sorted order; client claims may not replace them.
var registeredClaims = []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub"}

// CheckClientClaims reports whether claims can be added to a client
// assertion: an error wrapping [ErrReservedClaim] names the first (in
// sorted order) that would replace a claim the assertion sets itself (aud,
// iss, sub, jti, exp, nbf, iat). Apply makes the same check; package flow
// may call this when client claims are configured, to fail early.
//
// MSAL Python lets client claims override these; this package does not,
// because an assertion whose aud, iss or sub differs from what the
// authority expects is always rejected, and one with a stale jti or a
// long exp weakens replay protection.
func CheckClientClaims(claims map[string]any) error {
	for _, name := range registeredClaims {
		if _, ok := claims[name]; ok {
			return fmt.Errorf("%w: %q", ErrReservedClaim, name)
		}
	}
	return nil
}

// assertionHeader is what goes in a client assertion's JOSE header
// besides typ.
type assertionHeader struct {
	alg     jwa.SignatureAlgorithm
	x5t     string      // SHA-1 thumbprint, or ""
	x5tS256 string      // SHA-256 thumbprint, or ""
	x5c     *cert.Chain // standard base64 DER chain, or nil
	keyID   string
}

// signAssertion signs a client assertion for req with key at now.
func signAssertion(key crypto.Signer, h assertionHeader, req Request, now time.Time) (string, error) {
	if err := CheckClientClaims(req.ClientClaims); err != nil {
		return "", err
	}
	jti := uuid.New()
	claims := make(map[string]any, len(req.ClientClaims)+len(registeredClaims))
	maps.Copy(claims, req.ClientClaims)
	claims["aud"] = req.Audience
	claims["iss"] = req.ClientID
	claims["sub"] = req.ClientID
	claims["jti"] = jti
	claims["iat"] = now.Unix()
	claims["nbf"] = now.Unix()
	claims["exp"] = now.Add(AssertionLifetime).Unix()
	payload, err := json.Marshal(claims)
	if err != nil {
		// Only client claims can fail to encode.
		return "", fmt.Errorf("credential: client claims do not encode as JSON: %w", err)
	}

	hdr := jws.NewHeaders()
	set := func(k string, v any) {
		if err == nil {
			err = hdr.Set(k, v)
		}
	}
	set(jws.TypeKey, "JWT")
	if h.x5tS256 != "" {
		set(jws.X509CertThumbprintS256Key, h.x5tS256)
	}
	if h.x5t != "" {
		set(jws.X509CertThumbprintKey, h.x5t)
	}
	if h.keyID != "" {
		set(jws.KeyIDKey, h.keyID)
	}
	if h.x5c != nil {
		set(jws.X509CertChainKey, h.x5c)
	}
	if err != nil {
		return "", fmt.Errorf("credential: building the assertion header: %w", err)
	}
	signed, err := jws.Sign(payload, jws.WithKey(h.alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("credential: signing the client assertion with %s: %w", h.alg, err)
	}
	return string(signed), nil
}

// maxAssertionSize bounds the assertions this package reads from files.
const maxAssertionSize = 1 << 20

// assertionExpiry reads, without verifying the signature, the exp claim
// of a compact JWS JWT. ok is false when the claims set has no exp.
// Errors wrap [ErrMalformedAssertion] and never quote the token.
func assertionExpiry(tok string) (exp time.Time, ok bool, err error) {
	if len(tok) > maxAssertionSize {
		return time.Time{}, false, fmt.Errorf("%w: %d bytes is more than the %d allowed", ErrMalformedAssertion, len(tok), maxAssertionSize)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, false, fmt.Errorf("%w: a compact JWS has 3 dot-separated parts, this has %d", ErrMalformedAssertion, len(parts))
	}
	if _, err := decodeJSONPart(parts[0], "header"); err != nil {
		return time.Time{}, false, err
	}
	claims, err := decodeJSONPart(parts[1], "claims set")
	if err != nil {
		return time.Time{}, false, err
	}
	rawExp, has := claims["exp"]
	if !has {
		return time.Time{}, false, nil
	}
	// A JSON number only: json.Number alone would also take a string.
	var v any
	d := json.NewDecoder(bytes.NewReader(rawExp))
	d.UseNumber()
	err = d.Decode(&v)
	n, isNum := v.(json.Number)
	if err != nil || !isNum {
		return time.Time{}, false, fmt.Errorf("%w: exp is not a number", ErrMalformedAssertion)
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > maxNumericDate {
		return time.Time{}, false, fmt.Errorf("%w: exp is not a valid NumericDate", ErrMalformedAssertion)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true, nil
}

// maxNumericDate is the largest exp accepted: the year 33658, far past any
// real token and well inside time.Time's range.
const maxNumericDate = 1e12

// decodeJSONPart decodes one base64url part of a compact JWS as a JSON
// object.
func decodeJSONPart(part, name string) (map[string]json.RawMessage, error) {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return nil, fmt.Errorf("%w: the %s is not unpadded base64url", ErrMalformedAssertion, name)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: the %s is not a JSON object", ErrMalformedAssertion, name)
	}
	return obj, nil
}
