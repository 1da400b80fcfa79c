package flow

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// IDTokenClockSkew is the skew allowed between the application's clock
// and the authority's when an ID token's exp, iat, nbf and auth_time are
// checked.
const IDTokenClockSkew = 5 * time.Minute

// ErrInvalidIDToken is matched (with errors.Is) by the error for an ID
// token that fails verification: see [IDTokenError].
var ErrInvalidIDToken = errors.New("flow: invalid ID token")

// IDTokenError is an ID token that failed a check. Every ID token a user
// flow receives is verified before anything of it is used or cached
// (MSAL only decodes them): its signature by one of the keys the
// authority publishes (its jwks_uri; alg none, HMAC and keys it does not
// publish are refused), iss (the authority's issuer, with {tenantid}
// filled from the token's tid for the common and organizations
// authorities only, with the authority's own tenant ID for the others),
// aud (the client ID; azp too when there are several
// audiences), exp, iat and nbf with [IDTokenClockSkew] on the
// application's clock, the nonce of the sign-in, and auth_time against
// [MaxAge]. It matches [ErrInvalidIDToken]. It never quotes the token or
// its claims.
type IDTokenError struct {
	// Check is the check that failed: "format", "alg", "signature",
	// "iss", "aud", "azp", "exp", "iat", "nbf", "nonce" or "auth_time".
	Check string
	// Reason says how, in words.
	Reason string
}

func (e *IDTokenError) Error() string {
	return "flow: ID token rejected: " + e.Check + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidIDToken].
func (e *IDTokenError) Is(target error) bool { return target == ErrInvalidIDToken }

func idTokenErr(check, format string, args ...any) error {
	return &IDTokenError{Check: check, Reason: fmt.Sprintf(format, args...)}
}

// idTokenAlgs are the signature algorithms an ID token may use:
// asymmetric ones only, so that no shared secret (HMAC) and no "none"
// passes.
var idTokenAlgs = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256, "RS384": jwa.RS384, "RS512": jwa.RS512,
	"PS256": jwa.PS256, "PS384": jwa.PS384, "PS512": jwa.PS512,
	"ES256": jwa.ES256, "ES384": jwa.ES384, "ES512": jwa.ES512,
	"EdDSA": jwa.EdDSA,
}

// idTokenVerifier checks one ID token. Its parts are plain values and
// functions so that the checks can run (and be fuzzed) without an
// authority.
type idTokenVerifier struct {
	clientID string
	now      time.Time
	// issuer returns the issuer a token whose tid claim is tid must name.
	issuer func(tid string) (string, error)
	// key returns the published key kid (maybe empty) names for alg, or
	// an error wrapping errUnknownKey.
	key func(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error)
	// nonce is the nonce of the sign-in; "" when the flow sent none.
	nonce string
	// maxAge, when hasMaxAge, is the sign-in's max_age.
	maxAge    time.Duration
	hasMaxAge bool
}

// verify checks raw and returns its claims (numbers as float64). A token
// that fails a check gives an *IDTokenError; an authority whose keys
// cannot be read gives an error wrapping errKeysUnavailable.
func (v *idTokenVerifier) verify(ctx context.Context, raw string) (map[string]any, error) {
	if len(raw) > maxJWTBytes {
		return nil, idTokenErr("format", "longer than %d bytes", maxJWTBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, idTokenErr("format", "not a JWS (three base64url parts separated by dots)")
	}
	hb, err := decodeSegment(parts[0])
	var h jwsHeader
	if err != nil || !isJSONObject(hb) || json.Unmarshal(hb, &h) != nil {
		return nil, idTokenErr("format", "the header is not base64url JSON")
	}
	alg, ok := idTokenAlgs[h.Alg]
	switch {
	case strings.EqualFold(h.Alg, "none"):
		return nil, idTokenErr("alg", "the token is unsigned (alg none)")
	case strings.HasPrefix(strings.ToUpper(h.Alg), "HS"):
		return nil, idTokenErr("alg", "the token is signed with a shared secret (HMAC), which an authority's ID token is not")
	case !ok:
		return nil, idTokenErr("alg", "the signing algorithm is not one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA")
	case len(h.Crit) > 0 || len(h.B64) > 0:
		return nil, idTokenErr("format", "the header has critical parameters")
	case parts[2] == "":
		return nil, idTokenErr("signature", "the token has no signature")
	}
	key, err := v.key(ctx, h.Kid, alg)
	if err != nil {
		if errors.Is(err, errUnknownKey) {
			return nil, idTokenErr("signature", "the signing key is not one of the authority's published keys")
		}
		return nil, err
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKey(alg, key))
	if err != nil {
		return nil, idTokenErr("signature", "the signature does not verify with the authority's key")
	}
	var claims map[string]any
	if !isJSONObject(payload) || json.Unmarshal(payload, &claims) != nil {
		return nil, idTokenErr("format", "the payload is not a JSON object")
	}
	if err := v.checkClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkClaims checks the claims of a token whose signature verified.
func (v *idTokenVerifier) checkClaims(claims map[string]any) error {
	iss := claimString(claims, "iss")
	want, err := v.issuer(claimString(claims, "tid"))
	switch {
	case iss == "":
		return idTokenErr("iss", "the token names no issuer")
	case err != nil:
		return idTokenErr("iss", "the token's tid is not a tenant ID")
	case iss != want:
		return idTokenErr("iss", "the issuer is not the authority's")
	}
	auds, ok := audiences(claims["aud"])
	switch {
	case !ok:
		return idTokenErr("aud", "the audience is missing or not a string or array of strings")
	case !contains1(auds, v.clientID):
		return idTokenErr("aud", "the token was issued to another client")
	case len(auds) > 1 && claimString(claims, "azp") != v.clientID:
		return idTokenErr("azp", "the token has several audiences and its authorized party is not this client")
	}
	if azp, ok := claims["azp"]; ok && len(auds) == 1 {
		if s, _ := azp.(string); s != v.clientID {
			return idTokenErr("azp", "the token's authorized party is another client")
		}
	}
	skew := IDTokenClockSkew
	exp, ok := numericDate(claims["exp"])
	switch {
	case !ok:
		return idTokenErr("exp", "the token has no valid exp (expiry) claim")
	case !v.now.Before(exp.Add(skew)):
		return idTokenErr("exp", "the token expired")
	}
	iat, ok := numericDate(claims["iat"])
	switch {
	case !ok:
		return idTokenErr("iat", "the token has no valid iat (issued at) claim")
	case iat.After(v.now.Add(skew)):
		return idTokenErr("iat", "the token was issued in the future")
	}
	if raw, present := claims["nbf"]; present {
		nbf, ok := numericDate(raw)
		switch {
		case !ok:
			return idTokenErr("nbf", "the nbf (not before) claim is not a date")
		case nbf.After(v.now.Add(skew)):
			return idTokenErr("nbf", "the token is not valid yet")
		}
	}
	if v.nonce != "" {
		n, present := claims["nonce"]
		s, _ := n.(string)
		switch {
		case !present:
			return idTokenErr("nonce", "the token has no nonce, and the sign-in sent one")
		case subtle.ConstantTimeCompare([]byte(s), []byte(v.nonce)) != 1:
			return idTokenErr("nonce", "the nonce is not the sign-in's (a replayed or injected token)")
		}
	}
	if v.hasMaxAge {
		at, ok := numericDate(claims["auth_time"])
		switch {
		case !ok:
			return idTokenErr("auth_time", "max_age was asked for and the token has no valid auth_time")
		case v.now.After(at.Add(v.maxAge.Truncate(time.Second) + skew)):
			return idTokenErr("auth_time", "the user signed in longer ago than max_age allows")
		}
	}
	return nil
}

// audiences reads aud: a string or a non-empty array of strings.
func audiences(aud any) ([]string, bool) {
	switch a := aud.(type) {
	case string:
		return []string{a}, a != ""
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

func contains1(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// idTokenCheck is what a user flow expects of the ID token it received.
type idTokenCheck struct {
	// nonce is the nonce the sign-in sent; "" when it sent none.
	nonce string
	// maxAge, when hasMaxAge, is the sign-in's max_age.
	maxAge    time.Duration
	hasMaxAge bool
}

// verifyIDToken verifies raw, an ID token from the authority of ep (see
// [IDTokenError]), with the authority's discovery document and key set,
// read once and cached (the key set is the web API middleware's, shared).
func (a *app) verifyIDToken(ctx context.Context, ep *endpoints, raw string, chk idTokenCheck) (map[string]any, error) {
	md, err := a.resolver.metadata(ctx, ep.authority)
	if err != nil {
		return nil, fmt.Errorf("flow: the ID token cannot be verified: %w", err)
	}
	if md.jwks == "" {
		return nil, fmt.Errorf("flow: the ID token cannot be verified: %w: the authority's discovery document has no jwks_uri", errKeysUnavailable)
	}
	auth := ep.authority
	v := idTokenVerifier{
		clientID:  a.clientID,
		now:       a.cfg.clock(),
		issuer:    func(tid string) (string, error) { return idTokenIssuer(auth, md, tid) },
		nonce:     chk.nonce,
		maxAge:    chk.maxAge,
		hasMaxAge: chk.hasMaxAge,
		key: func(ctx context.Context, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
			return a.keySetFor(md.jwks).keyFor(ctx, md.jwks, kid, signingKey(alg))
		},
	}
	claims, err := v.verify(ctx, raw)
	if err != nil && !errors.Is(err, ErrInvalidIDToken) {
		return nil, fmt.Errorf("flow: the ID token cannot be verified: %w", err)
	}
	return claims, err
}

// idTokenIssuer returns the issuer an ID token from authority a, whose
// discovery document is md, with the tid claim tid must name: the
// document's issuer, whose {tenantid} template stands for the tenant the
// application signs users in to, the rule of the web API middleware
// (tokenValidator.issuerTenant): tid for the multi-tenant common and
// organizations authorities only; else the authority's own tenant ID, as
// it names it or as its document does. Entra signs every tenant's tokens
// with the same keys: a template filled from any token's tid would let
// another tenant's ID token pass for the authority's.
func idTokenIssuer(a authority, md *endpoints, tid string) (string, error) {
	if md.issuer == "" {
		return "", errors.New("flow: the authority's discovery document has no issuer")
	}
	if !strings.Contains(md.issuer, tenantIDTemplate) {
		return md.issuer, nil
	}
	tenant := md.tenantID
	switch {
	case a.anyTenant():
		tenant = tid
	case isGUID(a.tenant):
		tenant = a.tenant
	}
	return issuerForTenant(md.issuer, tenant)
}

// signingKey returns a key picker (for keySet.keyFor) of the keys alg may
// use: of alg's key type (RSA, EC of alg's curve, OKP), with no alg or
// alg, for signatures or no stated use. Without kid, the set's only such
// key is picked (OpenID Connect allows an authority with one key to name
// none).
func signingKey(alg jwa.SignatureAlgorithm) func(set jwk.Set, kid string) (jwk.Key, bool) {
	return func(set jwk.Set, kid string) (jwk.Key, bool) {
		if set == nil {
			return nil, false
		}
		if kid != "" {
			key, ok := set.LookupKeyID(kid)
			if !ok || !keyFits(key, alg) {
				return nil, false
			}
			return key, true
		}
		var found jwk.Key
		n := 0
		for i := 0; i < set.Len(); i++ {
			if key, ok := set.Key(i); ok && keyFits(key, alg) {
				found, n = key, n+1
			}
		}
		return found, n == 1
	}
}

// keyFits reports whether key may verify a signature of alg.
func keyFits(key jwk.Key, alg jwa.SignatureAlgorithm) bool {
	if ka := key.Algorithm(); ka != nil && ka.String() != "" && ka.String() != alg.String() {
		return false
	}
	if use, ok := key.Get(jwk.KeyUsageKey); ok {
		if s := fmt.Sprint(use); s != "" && s != string(jwk.ForSignature) {
			return false
		}
	}
	switch alg {
	case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
		return key.KeyType() == jwa.RSA
	case jwa.ES256, jwa.ES384, jwa.ES512:
		if key.KeyType() != jwa.EC {
			return false
		}
		var pub ecdsa.PublicKey
		if err := key.Raw(&pub); err != nil {
			return false
		}
		want := map[jwa.SignatureAlgorithm]elliptic.Curve{jwa.ES256: elliptic.P256(), jwa.ES384: elliptic.P384(), jwa.ES512: elliptic.P521()}[alg]
		return pub.Curve == want
	case jwa.EdDSA:
		return key.KeyType() == jwa.OKP
	}
	return false
}

// maxKeySets bounds the key sets an application keeps (one per jwks_uri:
// per tenant for Entra).
const maxKeySets = 64

// keySets are an application's key sets by jwks_uri. The first one asked
// for is the application's keys field, which the web API middleware of an
// application whose authority is the one of its sign-ins shares with them.
type keySets struct {
	mu sync.Mutex
	m  map[string]*keySet
}

// keySetFor returns the key set of jwksURL, made on first use.
func (a *app) keySetFor(jwksURL string) *keySet {
	ks := &a.keySets
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if k, ok := ks.m[jwksURL]; ok {
		return k
	}
	if ks.m == nil {
		ks.m = map[string]*keySet{jwksURL: &a.keys}
		return &a.keys
	}
	if len(ks.m) >= maxKeySets {
		// Forget one key set (not the first): a web app signing users in
		// to many tenants through Tenant reads that tenant's keys again.
		for u, k := range ks.m {
			if k != &a.keys {
				delete(ks.m, u)
				break
			}
		}
	}
	k := &keySet{app: a}
	ks.m[jwksURL] = k
	return k
}
