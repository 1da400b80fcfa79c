package credential

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// CertificateThumbprint returns a [Credential] that signs client
// assertions with key for a certificate known only by its SHA-1
// thumbprint (40 hex digits, in either case, colons or spaces allowed:
// the form the Azure portal shows), as MSAL Python's client_credential
// dict of a private_key and a thumbprint does: every assertion is RS256
// with x5t, the base64url of the thumbprint's bytes, which Entra, ADFS
// and OIDC authorities taking RS256 accept. key must be an RSA key of 2048
// bits or more.
//
// Without the certificate, nothing checks that the thumbprint is key's,
// nor the certificate's validity: the authority refuses an assertion
// whose x5t names no certificate it holds for the application. Prefer
// [Certificate] when the certificate is at hand (PS256 with x5t#S256 for
// Entra, and validity checks).
func CertificateThumbprint(key crypto.Signer, thumbprint string) (Credential, error) {
	if key == nil || isNilPointer(key) {
		return nil, ErrNoPrivateKey
	}
	kind, err := classifyKey(key.Public())
	if err != nil {
		return nil, err
	}
	if !kind.rsa {
		return nil, fmt.Errorf("%w: a certificate known by its thumbprint signs RS256, which needs an RSA key, not %s", ErrUnsupportedKey, kind.name)
	}
	raw, err := decodeThumbprint(thumbprint)
	if err != nil {
		return nil, err
	}
	if len(raw) != 20 {
		return nil, fmt.Errorf("%w: the thumbprint of CertificateThumbprint is SHA-1 (40 hex digits), not %d digits", ErrMalformed, 2*len(raw))
	}
	x := base64.RawURLEncoding.EncodeToString(raw)
	return &thumbprintCredential{
		redacted: redacted{desc: fmt.Sprintf("credential.CertificateThumbprint(RSA key, x5t %s)", x)},
		key:      &privateKey{key},
		x5t:      x,
	}, nil
}

// decodeThumbprint decodes a hex thumbprint with optional colons, spaces
// or dashes.
func decodeThumbprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	if clean == "" {
		return nil, fmt.Errorf("%w: the thumbprint is empty", ErrMalformed)
	}
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: the thumbprint is not hexadecimal", ErrMalformed)
	}
	return b, nil
}

type thumbprintCredential struct {
	redacted
	key *privateKey
	x5t string
}

// Validate reports whether the credential holds a key.
func (c *thumbprintCredential) Validate() error {
	if c == nil || c.key == nil {
		return ErrNoPrivateKey
	}
	return nil
}

// Apply signs a fresh RS256 assertion with x5t and adds it to form.
func (c *thumbprintCredential) Apply(ctx context.Context, req Request, form url.Values, _ http.Header) error {
	if err := assertionRequestError(ctx, req); err != nil {
		return err
	}
	if req.Kind == OIDC && len(req.Algorithms) > 0 && !slices.Contains(req.Algorithms, string(jwa.RS256)) {
		return fmt.Errorf("%w: the authority accepts %s, not RS256, the only algorithm of a certificate known by its thumbprint", ErrUnsupportedKey, strings.Join(req.Algorithms, ", "))
	}
	now := req.now()
	tok, err := signAssertion(c.key.Signer, assertionHeader{alg: jwa.RS256, x5t: c.x5t}, req, now)
	if err != nil {
		return err
	}
	setAssertion(form, tok)
	return nil
}

// MSALCertificate is a client certificate in the shape of MSAL Python's
// client_credential dict, whose JSON names its fields: a PEM private key
// (encrypted with Passphrase, or not), and the certificate
// (PublicCertificate, PEM) or only its SHA-1 Thumbprint. Its String,
// GoString, Format and LogValue methods never show the key or the
// passphrase.
type MSALCertificate struct {
	// PrivateKey is the PEM private key (PKCS#1, PKCS#8, SEC 1, or an
	// encrypted PKCS#8 or legacy-encrypted PEM block). Required.
	PrivateKey string `json:"private_key"`
	// Thumbprint is the certificate's SHA-1 thumbprint in hex; required
	// without PublicCertificate, checked against it with it.
	Thumbprint string `json:"thumbprint,omitempty"`
	// Passphrase decrypts an encrypted PrivateKey.
	Passphrase string `json:"passphrase,omitempty"`
	// PublicCertificate is the PEM certificate (and its chain), sent in
	// each assertion's x5c header as MSAL Python sends it, for subject
	// name and issuer (SN+I) authentication.
	PublicCertificate string `json:"public_certificate,omitempty"`
}

// String describes c without its key or passphrase.
func (c MSALCertificate) String() string {
	return fmt.Sprintf("credential.MSALCertificate{thumbprint: %q, public_certificate: %v, private_key: REDACTED}", c.Thumbprint, c.PublicCertificate != "")
}

// GoString is String, for %#v.
func (c MSALCertificate) GoString() string { return c.String() }

// Format writes String for every verb.
func (c MSALCertificate) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// Credential turns c into a [Credential], as MSAL Python reads the dict:
// with PublicCertificate, [Certificate] with [WithX5C] (PS256 and
// x5t#S256 for Entra; the Thumbprint, when given too, must be the
// certificate's: [ErrThumbprintMismatch]); without it,
// [CertificateThumbprint] (RS256 and x5t). A PrivateKey that holds the
// certificate as well counts as PublicCertificate without x5c. Errors
// wrap [ErrNoPrivateKey], [ErrWrongPassword], [ErrMalformed],
// [ErrMultipleKeys] and the errors of Certificate and
// CertificateThumbprint; none quotes the key or the passphrase.
func (c MSALCertificate) Credential() (Credential, error) {
	if strings.TrimSpace(c.PrivateKey) == "" {
		return nil, fmt.Errorf("%w: private_key is empty", ErrNoPrivateKey)
	}
	certs, key, err := parsePEM([]byte(c.PrivateKey), c.Passphrase)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if key == nil || !ok {
		return nil, fmt.Errorf("%w: private_key holds no private key", ErrNoPrivateKey)
	}
	var opts []CertificateOption
	if strings.TrimSpace(c.PublicCertificate) != "" {
		pub, _, err := parsePEM([]byte(c.PublicCertificate), "")
		if err != nil {
			return nil, fmt.Errorf("public_certificate: %w", err)
		}
		if len(pub) == 0 {
			return nil, fmt.Errorf("%w: public_certificate holds no certificate", ErrNoCertificate)
		}
		certs = append(pub, certs...)
		opts = append(opts, WithX5C())
	}
	if len(certs) == 0 {
		if strings.TrimSpace(c.Thumbprint) == "" {
			return nil, fmt.Errorf("%w: give public_certificate or thumbprint with private_key", ErrNoCertificate)
		}
		return CertificateThumbprint(signer, c.Thumbprint)
	}
	cred, err := Certificate(certs, signer, opts...)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Thumbprint) != "" {
		leaf := leafOf(certs, signer.Public())
		if err := CheckThumbprint(leaf, c.Thumbprint); err != nil {
			return nil, err
		}
	}
	return cred, nil
}

// leafOf returns the certificate of pub among certs, or nil.
func leafOf(certs []*x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	chain, _, ok := orderChain(certs, pub)
	if !ok {
		return nil
	}
	return chain[0]
}
