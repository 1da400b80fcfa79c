// Package dpop makes DPoP proofs (RFC 9449, OAuth 2.0 Demonstrating
// Proof of Possession): JWTs a client signs with a key of its own for
// each HTTP request, so that the tokens bound to that key are useless to
// anyone who does not hold it.
//
// A [Signer] signs with any [crypto.Signer] (an in-memory key, or a key
// in a KMS or an HSM: only Public and Sign are called) through jwx's
// algorithm implementations: ES256, ES384 and ES512 for ECDSA keys on
// P-256, P-384 and P-521, PS256 or RS256 (and their SHA-384 and SHA-512
// kin) for RSA keys of 2048 bits or more, EdDSA for Ed25519 keys. Its
// JOSE header (typ dpop+jwt, alg, and jwk holding the public key only)
// is built once; each proof has a fresh jti.
//
// Package flow uses it; nothing here holds a token or a private key in
// an error string.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// ErrUnsupportedKey is wrapped by the error for a key that cannot sign
// proofs: not ECDSA on P-256, P-384 or P-521, RSA of 2048 bits or more,
// or Ed25519; or one that cannot sign any algorithm a server accepts.
var ErrUnsupportedKey = errors.New("dpop: unsupported key")

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// rsaAlgorithms are the algorithms of an RSA key, preferred first: PSS
// before PKCS #1 v1.5, SHA-256 first.
var rsaAlgorithms = []string{"PS256", "RS256", "PS384", "PS512", "RS384", "RS512"}

// Algorithms returns the proof algorithms key can sign with, preferred
// first, or an error wrapping [ErrUnsupportedKey].
func Algorithms(pub crypto.PublicKey) ([]string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		name := "unknown"
		if k.Curve != nil {
			name = k.Curve.Params().Name
		}
		return nil, fmt.Errorf("%w: ECDSA curve %s (P-256, P-384 and P-521 are supported)", ErrUnsupportedKey, name)
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < minRSABits {
			bits := 0
			if k.N != nil {
				bits = k.N.BitLen()
			}
			return nil, fmt.Errorf("%w: an RSA key of %d bits (at least %d are needed)", ErrUnsupportedKey, bits, minRSABits)
		}
		return slices.Clone(rsaAlgorithms), nil
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("%w: public key type %T", ErrUnsupportedKey, pub)
}

// Choose returns the algorithm key signs proofs with for a server that
// accepts supported (its dpop_signing_alg_values_supported): the key's
// most preferred algorithm among them, or with no list its default
// (ES256, ES384 or ES512 by curve, PS256 for RSA, EdDSA for Ed25519).
func Choose(pub crypto.PublicKey, supported []string) (string, error) {
	algs, err := Algorithms(pub)
	if err != nil {
		return "", err
	}
	if len(supported) == 0 {
		return algs[0], nil
	}
	for _, a := range algs {
		if slices.Contains(supported, a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: the server accepts %s, none of which this key can sign (it can sign %s)",
		ErrUnsupportedKey, strings.Join(supported, ", "), strings.Join(algs, ", "))
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub, base64url
// encoded: the jkt a server binds tokens to (cnf.jkt).
func Thumbprint(pub crypto.PublicKey) (string, error) {
	if _, err := Algorithms(pub); err != nil {
		return "", err
	}
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	return b64.EncodeToString(tp), nil
}

var b64 = base64.RawURLEncoding

// Signer signs DPoP proofs with one key and algorithm. It is immutable
// and safe for concurrent use.
type Signer struct {
	key    crypto.Signer
	alg    jwa.SignatureAlgorithm
	sign   jws.Signer
	header string // the base64url protected header and its trailing "."
	jkt    string
}

// New returns a Signer of proofs made with key under alg ("" for the
// key's default, see [Choose]). It fails, with an error wrapping
// [ErrUnsupportedKey], for a key that cannot sign alg.
func New(key crypto.Signer, alg string) (*Signer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: the key is nil", ErrUnsupportedKey)
	}
	pub := key.Public()
	algs, err := Algorithms(pub)
	if err != nil {
		return nil, err
	}
	if alg == "" {
		alg = algs[0]
	}
	if !slices.Contains(algs, alg) {
		return nil, fmt.Errorf("%w: this key cannot sign %s (it can sign %s)", ErrUnsupportedKey, alg, strings.Join(algs, ", "))
	}
	a := jwa.SignatureAlgorithm(alg)
	sign, err := jws.NewSigner(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnsupportedKey, alg, err)
	}
	pubJWK, err := jwk.FromRaw(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	tp, err := pubJWK.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	hdr := jws.NewHeaders()
	for _, kv := range []struct {
		k string
		v any
	}{{jws.TypeKey, "dpop+jwt"}, {jws.AlgorithmKey, a}, {jws.JWKKey, pubJWK}} {
		if err := hdr.Set(kv.k, kv.v); err != nil {
			return nil, fmt.Errorf("dpop: building the proof header: %w", err)
		}
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("dpop: building the proof header: %w", err)
	}
	signWith := key
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		// jwx converts an *ecdsa.PrivateKey to a copy on every signature
		// (86 allocations for ES256); through crypto.Signer it calls
		// SignASN1 instead.
		signWith = signerOnly{key}
	}
	return &Signer{key: signWith, alg: a, sign: sign, header: b64.EncodeToString(hb) + ".", jkt: b64.EncodeToString(tp)}, nil
}

// signerOnly hides a key's type, leaving only crypto.Signer.
type signerOnly struct{ crypto.Signer }

// Algorithm returns the algorithm s signs with, such as "ES256".
func (s *Signer) Algorithm() string { return string(s.alg) }

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of s's public key,
// base64url encoded (the jkt tokens are bound to).
func (s *Signer) Thumbprint() string { return s.jkt }

// claims are a proof's claims (RFC 9449 section 4.2).
type claims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Proof returns a DPoP proof for a request of method to u, issued at now,
// with a fresh random jti; nonce, when not empty, is the server's
// DPoP-Nonce; accessToken, when not empty, is the token the request
// presents, whose hash goes in ath. The error never holds the token.
func (s *Signer) Proof(method string, u *url.URL, now time.Time, nonce, accessToken string) (string, error) {
	if method == "" {
		method = "GET"
	}
	c := claims{JTI: newJTI(), HTM: method, HTU: HTU(u), IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		c.ATH = AccessTokenHash(accessToken)
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", fmt.Errorf("dpop: encoding the proof's claims: %w", err)
	}
	input := make([]byte, 0, len(s.header)+b64.EncodedLen(len(payload))+1+b64.EncodedLen(512))
	input = append(input, s.header...)
	input = b64.AppendEncode(input, payload)
	sig, err := s.sign.Sign(input, s.key)
	if err != nil {
		return "", fmt.Errorf("dpop: signing the proof with %s: %w", s.alg, err)
	}
	input = append(input, '.')
	input = b64.AppendEncode(input, sig)
	return string(input), nil
}

// HTU returns the htu of a request to u: its scheme, host and path,
// without user information, query or fragment (RFC 9449 section 4.2); an
// empty path is "/".
func HTU(u *url.URL) string {
	if u == nil {
		return ""
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return u.Scheme + "://" + u.Host + path
}

// AccessTokenHash returns a proof's ath for token: the base64url SHA-256
// hash of its ASCII octets.
func AccessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return b64.EncodeToString(h[:])
}

// newJTI returns a random jti: 128 bits, base64url.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b64.EncodeToString(b[:])
}
