package authtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// This file holds the server's own small JWS implementation (RS256 signing
// of the tokens it issues; RS256, PS256 and ES256/384/512 verification of
// what clients present), written on the standard library so it shares no
// code, and no bugs, with the clients it tests.

// signingKey is one of the server's token signing keys.
type signingKey struct {
	priv *rsa.PrivateKey
	cert *x509.Certificate
	kid  string // x5t of cert; Entra uses the same value as kid
}

// keyPool holds the RSA keys servers sign with. Generating a 2048-bit RSA
// key is slow, so keys are made once per process and shared: every
// server starts with key 0 and [Server.RotateKeys] moves it to the next.
var keyPool struct {
	mu   sync.Mutex
	keys []*signingKey
}

func poolKey(i int) (*signingKey, error) {
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	for len(keyPool.keys) <= i {
		k, err := newSigningKey(len(keyPool.keys))
		if err != nil {
			return nil, err
		}
		keyPool.keys = append(keyPool.keys, k)
	}
	return keyPool.keys[i], nil
}

func newSigningKey(n int) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("authtest: generate signing key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(n) + 100),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, fmt.Errorf("authtest: create signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("authtest: parse signing certificate: %w", err)
	}
	return &signingKey{priv: priv, cert: cert, kid: thumbprintSHA1(cert)}, nil
}

func thumbprintSHA1(c *x509.Certificate) string {
	h := sha1.Sum(c.Raw)
	return b64.EncodeToString(h[:])
}

var b64 = base64.RawURLEncoding

// signJWT signs claims with key as an RS256 JWT with Entra's header.
func signJWT(key *signingKey, claims map[string]any) (string, error) {
	header := map[string]any{"typ": "JWT", "alg": "RS256", "x5t": key.kid, "kid": key.kid}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("authtest: encode claims: %w", err)
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	h := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key.priv, crypto.SHA256, h[:])
	if err != nil {
		return "", fmt.Errorf("authtest: sign: %w", err)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// maxJWTSize bounds the JWTs the server parses.
const maxJWTSize = 64 << 10

// Errors of JWT parsing and verification. The errors returned wrap one of
// them; none contains the token.
var (
	errMalformedJWT = errors.New("malformed JWT")
	errBadSignature = errors.New("signature does not verify")
	errAlgorithm    = errors.New("algorithm not accepted")
)

// jwt is a parsed, not yet verified, JWS compact serialization.
type jwt struct {
	header map[string]any
	claims map[string]any
	input  string // header.payload, the signing input
	sig    []byte
}

// parseJWT parses s. It accepts only the compact serialization with
// unpadded base64url parts, JSON objects as header and payload, and a
// header naming alg.
func parseJWT(s string) (*jwt, error) {
	if len(s) > maxJWTSize {
		return nil, fmt.Errorf("%w: longer than %d bytes", errMalformedJWT, maxJWTSize)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", errMalformedJWT, len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not unpadded base64url", errMalformedJWT)
	}
	cb, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not unpadded base64url", errMalformedJWT)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not unpadded base64url", errMalformedJWT)
	}
	t := &jwt{input: parts[0] + "." + parts[1], sig: sig}
	if t.header, err = decodeObject(hb); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errMalformedJWT, err)
	}
	if t.claims, err = decodeObject(cb); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", errMalformedJWT, err)
	}
	if _, ok := t.header["alg"].(string); !ok {
		return nil, fmt.Errorf("%w: header has no alg", errMalformedJWT)
	}
	return t, nil
}

func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, errors.New("not a JSON object")
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if d.More() {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

func (t *jwt) alg() string { s, _ := t.header["alg"].(string); return s }

func (t *jwt) headerString(name string) string { s, _ := t.header[name].(string); return s }

func (t *jwt) str(name string) string { s, _ := t.claims[name].(string); return s }

// num returns a numeric claim (seconds since the epoch for times).
// parseJWT decodes numbers as json.Number.
func (t *jwt) num(name string) (int64, bool) {
	n, ok := t.claims[name].(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil {
		return i, true
	}
	if f, err := n.Float64(); err == nil {
		return int64(f), true
	}
	return 0, false
}

// audiences returns aud as a list (it may be a string or an array).
func (t *jwt) audiences() []string { return claimStrings(t.claims, "aud") }

func claimStrings(claims map[string]any, name string) []string {
	switch v := claims[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// verify checks t's signature with key under t's algorithm, which must be
// one of algs and must suit the key type.
func (t *jwt) verify(key crypto.PublicKey, algs []string) error {
	alg := t.alg()
	if !containsFold(algs, alg) {
		return fmt.Errorf("%w: %q (accepted: %s)", errAlgorithm, alg, strings.Join(algs, ", "))
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		var h crypto.Hash
		switch alg {
		case "RS256", "PS256":
			h = crypto.SHA256
		case "RS384", "PS384":
			h = crypto.SHA384
		case "RS512", "PS512":
			h = crypto.SHA512
		default:
			return fmt.Errorf("%w: %q does not suit an RSA key", errAlgorithm, alg)
		}
		d := digest(h, t.input)
		var err error
		if alg[0] == 'P' {
			// RFC 7518 section 3.5: the salt is as long as the hash.
			err = rsa.VerifyPSS(k, h, d, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		} else {
			err = rsa.VerifyPKCS1v15(k, h, d, t.sig)
		}
		if err != nil {
			return errBadSignature
		}
		return nil
	case *ecdsa.PublicKey:
		var h crypto.Hash
		var curve elliptic.Curve
		switch alg {
		case "ES256":
			h, curve = crypto.SHA256, elliptic.P256()
		case "ES384":
			h, curve = crypto.SHA384, elliptic.P384()
		case "ES512":
			h, curve = crypto.SHA512, elliptic.P521()
		default:
			return fmt.Errorf("%w: %q does not suit an EC key", errAlgorithm, alg)
		}
		if k.Curve != curve {
			return fmt.Errorf("%w: %q does not suit a %s key", errAlgorithm, alg, k.Curve.Params().Name)
		}
		// RFC 7518 section 3.4: R and S, each padded to the curve size.
		size := (curve.Params().BitSize + 7) / 8
		if len(t.sig) != 2*size {
			return fmt.Errorf("%w: an %s signature is %d bytes (R||S), got %d", errBadSignature, alg, 2*size, len(t.sig))
		}
		r := new(big.Int).SetBytes(t.sig[:size])
		s := new(big.Int).SetBytes(t.sig[size:])
		if !ecdsa.Verify(k, digest(h, t.input), r, s) {
			return errBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T", errAlgorithm, key)
}

func digest(h crypto.Hash, s string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(s))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// jwk is a JSON Web Key as Entra publishes it: no alg member.
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer,omitempty"`
}

func (k *signingKey) jwk(issuer string) jwk {
	return jwk{
		Kty:    "RSA",
		Use:    "sig",
		Kid:    k.kid,
		X5t:    k.kid,
		N:      b64.EncodeToString(k.priv.N.Bytes()),
		E:      b64.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
		X5c:    []string{base64.StdEncoding.EncodeToString(k.cert.Raw)},
		Issuer: issuer,
	}
}
