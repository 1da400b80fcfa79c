package credential_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/credential"
)

// Key kinds the tests generate, each once per test binary.
const (
	rsa2048 = "RSA 2048"
	rsa4096 = "RSA 4096"
	p256    = "P-256"
	p384    = "P-384"
	p521    = "P-521"
	p224    = "P-224"
	ed      = "Ed25519"
)

var (
	keysMu sync.Mutex
	keys   = map[string]crypto.Signer{}
)

// testKey returns the test binary's key of the given kind.
func testKey(tb testing.TB, kind string) crypto.Signer {
	tb.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[kind]; ok {
		return k
	}
	k, err := generateKey(kind)
	if err != nil {
		tb.Fatalf("generating %s key: %v", kind, err)
	}
	keys[kind] = k
	return k
}

// freshKey returns a new key of the given kind, for tests that need two
// different keys.
func freshKey(tb testing.TB, kind string) crypto.Signer {
	tb.Helper()
	k, err := generateKey(kind)
	if err != nil {
		tb.Fatalf("generating %s key: %v", kind, err)
	}
	return k
}

func generateKey(kind string) (crypto.Signer, error) {
	switch kind {
	case rsa2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case rsa4096:
		return rsa.GenerateKey(rand.Reader, 4096)
	case p256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case p384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case p521:
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case p224:
		return ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case ed:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unknown key kind %q", kind)
}

// certSpec describes a certificate to issue.
type certSpec struct {
	cn        string
	notBefore time.Time
	notAfter  time.Time
	ca        bool
}

var serial int64

// issue makes a certificate for key's public key, signed by parentKey as
// parent, or self-signed when parent is nil.
func issue(tb testing.TB, spec certSpec, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	tb.Helper()
	if spec.notBefore.IsZero() {
		spec.notBefore = time.Now().Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Now().Add(24 * time.Hour)
	}
	keysMu.Lock()
	serial++
	n := serial
	keysMu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(n),
		Subject:               pkix.Name{CommonName: spec.cn, Organization: []string{"bearer tests"}},
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if spec.ca {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		tb.Fatalf("issuing %q: %v", spec.cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// selfSigned returns a self-signed certificate for the key, valid from
// an hour ago for a day.
func selfSigned(tb testing.TB, key crypto.Signer) *x509.Certificate {
	tb.Helper()
	return issue(tb, certSpec{cn: "client"}, key, nil, nil)
}

// pki is a leaf certificate issued through an intermediate by a root.
type pki struct {
	key                  crypto.Signer
	leaf, inter, root    *x509.Certificate
	interKey, rootKey    crypto.Signer
	unrelated            *x509.Certificate // a self-signed CA that issued nothing here
	chainLeafToRootOrder []*x509.Certificate
}

func newPKI(tb testing.TB, leafKind string) pki {
	tb.Helper()
	rootKey, interKey := freshKey(tb, p256), freshKey(tb, p256)
	root := issue(tb, certSpec{cn: "Test Root CA", ca: true}, rootKey, nil, nil)
	inter := issue(tb, certSpec{cn: "Test Intermediate CA", ca: true}, interKey, root, rootKey)
	key := testKey(tb, leafKind)
	leaf := issue(tb, certSpec{cn: "client.example"}, key, inter, interKey)
	other := issue(tb, certSpec{cn: "Unrelated CA", ca: true}, freshKey(tb, p256), nil, nil)
	return pki{
		key: key, leaf: leaf, inter: inter, root: root, interKey: interKey, rootKey: rootKey,
		unrelated: other, chainLeafToRootOrder: []*x509.Certificate{leaf, inter, root},
	}
}

// jwtParts decodes a compact JWS's header and claims on their own, with
// no help from the package under test or jwx.
func jwtParts(tb testing.TB, tok string) (header, claims map[string]any) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("assertion has %d parts, want 3", len(parts))
	}
	decode := func(s string, v any) {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			tb.Fatalf("part is not unpadded base64url: %v", err)
		}
		d := json.NewDecoder(strings.NewReader(string(raw)))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			tb.Fatalf("part is not JSON: %v", err)
		}
	}
	decode(parts[0], &header)
	decode(parts[1], &claims)
	if sig, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(sig) == 0 {
		tb.Fatalf("signature is not unpadded base64url: %v", err)
	}
	return header, claims
}

func b64urlSHA1(der []byte) string {
	s := sha1.Sum(der)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func b64urlSHA256(der []byte) string {
	s := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// pemOf encodes one PEM block.
func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func certPEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pemOf("CERTIFICATE", c.Raw)...)
	}
	return b
}

func pkcs8PEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// leakMarkers returns strings that must never appear in output about a
// credential holding key: the private key's DER in base64 (several
// slices of it) and, for RSA and ECDSA, its private scalar in decimal and
// hex.
func leakMarkers(key crypto.Signer) []string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	var m []string
	for i := 40; i+24 <= len(b64); i += len(b64) / 5 {
		m = append(m, b64[i:i+24])
	}
	var d *big.Int
	switch k := key.(type) {
	case *rsa.PrivateKey:
		d = k.D
		m = append(m, k.Primes[0].String(), k.Primes[0].Text(16))
	case *ecdsa.PrivateKey:
		b, _ := k.Bytes()
		d = new(big.Int).SetBytes(b)
	case ed25519.PrivateKey:
		m = append(m, fmt.Sprintf("%x", k.Seed()), fmt.Sprint(k.Seed()[:8])[1:20])
	}
	if d != nil {
		m = append(m, d.String()[:30], d.Text(16)[:30])
	}
	return m
}

// assertNoLeak fails when s contains any of the secrets.
func assertNoLeak(tb testing.TB, what, s string, secrets ...string) {
	tb.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			tb.Errorf("%s contains a secret (%.6s…): %.200q", what, secret, s)
		}
	}
}

// errorIsOneOf reports whether err wraps one of the package's sentinels.
func errorIsOneOf(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// parseErrors are the errors ParseCertificates documents.
var parseErrors = []error{
	credential.ErrWrongPassword, credential.ErrNoPrivateKey, credential.ErrNoCertificate,
	credential.ErrMultipleKeys, credential.ErrKeyMismatch, credential.ErrUnsupportedKey,
	credential.ErrMalformed,
}

// opaqueSigner hides a key's concrete type, as an HSM or KMS signer does.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

func asRSA(tb testing.TB, k crypto.Signer) *rsa.PrivateKey {
	tb.Helper()
	r, ok := k.(*rsa.PrivateKey)
	if !ok {
		tb.Fatalf("%T is not an RSA key", k)
	}
	return r
}

func asEC(tb testing.TB, k crypto.Signer) *ecdsa.PrivateKey {
	tb.Helper()
	e, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		tb.Fatalf("%T is not an ECDSA key", k)
	}
	return e
}

func writeFileB(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }
