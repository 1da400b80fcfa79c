package credential

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/cert"
	"github.com/lestrrat-go/jwx/v2/jwa"
)

// AssertionLifetime is how long a client assertion signed by a
// [Certificate] credential is valid: its exp is its iat plus this.
const AssertionLifetime = 10 * time.Minute

// JWTBearer is the client_assertion_type of every assertion this package
// sends (RFC 7523 section 2.2).
const JWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// CertificateOption configures a credential made by [Certificate].
type CertificateOption func(*certOptions)

type certOptions struct {
	x5c   bool
	keyID string
}

// WithX5C sends the certificate chain in each assertion's x5c header:
// the signing certificate first, then each certificate that issued the
// one before it (found by name among those given), each the standard
// base64 of its DER encoding. Certificates outside that chain are not
// sent. Entra needs it for subject name and issuer
// (SN/I) authentication, which lets a certificate be rolled over without
// updating the application's registration.
func WithX5C() CertificateOption {
	return func(o *certOptions) { o.x5c = true }
}

// WithKeyID sets each assertion's kid header, for an OIDC authority that
// finds the client's key by ID in its registered JWK set.
func WithKeyID(kid string) CertificateOption {
	return func(o *certOptions) { o.keyID = kid }
}

// Certificate returns a [Credential] that authenticates with a JWT client
// assertion (RFC 7523, OpenID Connect private_key_jwt) signed by key, a
// fresh one for every Apply.
//
// certs must include the certificate of key's public key; the others, in
// any order, may be its issuers (sent with [WithX5C]). key may be any
// crypto.Signer, an HSM or KMS key included, whose public key is RSA (2048
// bits or more), ECDSA on P-256, P-384 or P-521, or Ed25519.
//
// The assertion's header has typ JWT and, by Request.Kind:
//   - [Entra]: alg PS256 and x5t#S256, the base64url SHA-256 thumbprint of
//     the certificate's DER encoding. RSA keys only.
//   - [ADFS]: alg RS256 and x5t, the base64url SHA-1 thumbprint. RSA keys
//     only.
//   - [OIDC]: both thumbprints and the first algorithm of the key's kind
//     that Request.Algorithms lists: for RSA PS256, RS256, PS384, PS512,
//     RS384, RS512 in that order of preference; ES256, ES384 or ES512 for
//     a P-256, P-384 or P-521 key; EdDSA for Ed25519. When
//     Request.Algorithms is empty: RS256, the curve's ES algorithm, or
//     EdDSA.
//
// Its claims are aud = Request.Audience, iss = sub = Request.ClientID, a
// random UUID jti, iat = nbf = Request.Now (or the current time), exp =
// iat + [AssertionLifetime], and Request.ClientClaims, which may add
// claims but not replace those ([ErrReservedClaim]).
//
// Certificate fails with [ErrNoCertificate], [ErrNoPrivateKey],
// [ErrKeyMismatch] (key's public key is in no certificate),
// [ErrUnsupportedKey], [ErrWeakKey], [ErrCertificateExpired] or
// [ErrCertificateNotYetValid] (checked against the current time). Apply
// checks the certificate's validity again at Request.Now, since a long
// running service outlives certificates, and fails with
// [ErrUnsupportedKey] when the authority cannot take the key.
func Certificate(certs []*x509.Certificate, key crypto.Signer, opts ...CertificateOption) (Credential, error) {
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	if key == nil || isNilPointer(key) {
		return nil, ErrNoPrivateKey
	}
	var o certOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	pub := key.Public()
	kind, err := classifyKey(pub)
	if err != nil {
		return nil, err
	}
	chain, _, ok := orderChain(certs, pub)
	if !ok {
		return nil, fmt.Errorf("%w: its public key is in none of the %s", ErrKeyMismatch, plural(len(certs), "certificate"))
	}
	leaf := chain[0]
	if err := checkValidity(leaf, time.Now()); err != nil {
		return nil, err
	}
	c := &certCredential{
		key:   &privateKey{key},
		cert:  leaf,
		kind:  kind,
		x5t:   x5t(leaf.Raw),
		x5tS:  x5tS256(leaf.Raw),
		keyID: o.keyID,
	}
	if o.x5c {
		// Built once: every assertion's header shares it, read only.
		c.x5c = new(cert.Chain)
		for _, ct := range chain {
			_ = c.x5c.AddString(base64.StdEncoding.EncodeToString(ct.Raw)) // never fails
		}
	}
	c.desc = fmt.Sprintf("credential.Certificate(%s key, subject %q, x5t#S256 %s)", kind.name, leaf.Subject.String(), c.x5tS)
	return c, nil
}

// privateKey holds a signing key behind a pointer, so that no print of
// a certCredential shows it (an ed25519.PrivateKey is a byte slice that
// fmt would print in full).
type privateKey struct{ crypto.Signer }

type certCredential struct {
	redacted
	key   *privateKey
	cert  *x509.Certificate
	kind  keyKind
	x5t   string
	x5tS  string
	x5c   *cert.Chain // nil unless WithX5C: standard base64 DER, signing certificate first
	keyID string
}

// Validate reports whether the certificate is valid at the current time.
func (c *certCredential) Validate() error {
	if c == nil || c.key == nil || c.cert == nil {
		return ErrNoPrivateKey
	}
	return checkValidity(c.cert, time.Now())
}

// Apply signs a fresh assertion and adds it to form as client_assertion,
// with client_assertion_type [JWTBearer].
func (c *certCredential) Apply(ctx context.Context, req Request, form url.Values, _ http.Header) error {
	if err := assertionRequestError(ctx, req); err != nil {
		return err
	}
	now := req.now()
	if err := checkValidity(c.cert, now); err != nil {
		return err
	}
	alg, err := c.algorithm(req)
	if err != nil {
		return err
	}
	h := assertionHeader{alg: alg, keyID: c.keyID, x5c: c.x5c}
	switch req.Kind {
	case Entra:
		h.x5tS256 = c.x5tS
	case ADFS:
		h.x5t = c.x5t
	default:
		h.x5tS256, h.x5t = c.x5tS, c.x5t
	}
	tok, err := signAssertion(c.key.Signer, h, req, now)
	if err != nil {
		return err
	}
	setAssertion(form, tok)
	return nil
}

// algorithm picks the signing algorithm for req's authority.
func (c *certCredential) algorithm(req Request) (jwa.SignatureAlgorithm, error) {
	switch req.Kind {
	case Entra, ADFS:
		if !c.kind.rsa {
			want := "PS256"
			if req.Kind == ADFS {
				want = "RS256"
			}
			return "", fmt.Errorf("%w: %s takes %s assertions, which need an RSA key, not %s", ErrUnsupportedKey, req.Kind, want, c.kind.name)
		}
		if req.Kind == ADFS {
			return jwa.RS256, nil
		}
		return jwa.PS256, nil
	case OIDC:
		if len(req.Algorithms) == 0 {
			return c.kind.def, nil
		}
		for _, a := range c.kind.algs {
			if slices.Contains(req.Algorithms, string(a)) {
				return a, nil
			}
		}
		return "", fmt.Errorf("%w: the authority accepts %s, none of which this %s key can sign", ErrUnsupportedKey, strings.Join(req.Algorithms, ", "), c.kind.name)
	}
	return "", fmt.Errorf("%w: unknown authority kind %s", ErrIncompleteRequest, req.Kind)
}

// rsaPreference is the order in which an RSA key's algorithms are chosen
// from those an OIDC authority accepts: PSS before PKCS #1 v1.5, SHA-256
// first.
var rsaPreference = []jwa.SignatureAlgorithm{jwa.PS256, jwa.RS256, jwa.PS384, jwa.PS512, jwa.RS384, jwa.RS512}

// keyKind describes a public key: its kind's name for messages, the
// algorithm it signs with when an OIDC authority lists none, and the
// algorithms it can sign with, in order of preference.
type keyKind struct {
	name string
	rsa  bool
	def  jwa.SignatureAlgorithm
	algs []jwa.SignatureAlgorithm
}

// classifyKey tells what kind of key pub is, or why it cannot be used.
func classifyKey(pub crypto.PublicKey) (keyKind, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < 2048 {
			n := 0
			if k.N != nil {
				n = k.N.BitLen()
			}
			return keyKind{}, fmt.Errorf("%w: this one has %d bits", ErrWeakKey, n)
		}
		return keyKind{name: "RSA", rsa: true, def: jwa.RS256, algs: rsaPreference}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return ecdsaKind("P-256", jwa.ES256), nil
		case elliptic.P384():
			return ecdsaKind("P-384", jwa.ES384), nil
		case elliptic.P521():
			return ecdsaKind("P-521", jwa.ES512), nil
		}
		name := "unknown"
		if k.Curve != nil {
			name = k.Curve.Params().Name
		}
		return keyKind{}, fmt.Errorf("%w: ECDSA curve %s (P-256, P-384 and P-521 are supported)", ErrUnsupportedKey, name)
	case ed25519.PublicKey:
		return keyKind{name: "Ed25519", def: jwa.EdDSA, algs: []jwa.SignatureAlgorithm{jwa.EdDSA}}, nil
	}
	return keyKind{}, fmt.Errorf("%w: public key type %T", ErrUnsupportedKey, pub)
}

// ecdsaKind is the keyKind of an ECDSA key on the named curve, which
// signs with alg only.
func ecdsaKind(curve string, alg jwa.SignatureAlgorithm) keyKind {
	return keyKind{name: "ECDSA " + curve, def: alg, algs: []jwa.SignatureAlgorithm{alg}}
}

// checkValidity reports whether cert is valid at now.
func checkValidity(cert *x509.Certificate, now time.Time) error {
	if now.Before(cert.NotBefore) {
		return fmt.Errorf("%w: certificate %q is valid from %s, it is now %s", ErrCertificateNotYetValid,
			cert.Subject.String(), cert.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return fmt.Errorf("%w: certificate %q expired at %s, it is now %s", ErrCertificateExpired,
			cert.Subject.String(), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// isNilPointer reports whether v is an interface holding a nil pointer,
// such as a (*rsa.PrivateKey)(nil) passed as a crypto.Signer.
func isNilPointer(v any) bool {
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// assertionRequestError reports what keeps a client assertion from being
// signed for req: ctx's end, or a request without the client ID (the
// assertion's iss and sub) or the audience (the token endpoint).
func assertionRequestError(ctx context.Context, req Request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if req.ClientID == "" {
		return fmt.Errorf("%w: a client assertion needs the client ID (iss and sub)", ErrIncompleteRequest)
	}
	if req.Audience == "" {
		return fmt.Errorf("%w: a client assertion needs an audience (the token endpoint)", ErrIncompleteRequest)
	}
	return nil
}
