package credential

import (
	"bytes"
	"crypto"
	"crypto/sha1" //nolint:gosec // x5t and MSAL thumbprints are SHA-1 by definition; identification only
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Thumbprint returns the certificate's SHA-1 thumbprint in upper-case hex,
// the form the Azure portal shows and MSAL Python's certificate
// "thumbprint" takes.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // see import
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// CheckThumbprint reports whether thumbprint is the certificate's: a hex
// SHA-1 (40 digits, as MSAL Python's certificate "thumbprint") or SHA-256
// (64 digits) hash of its DER encoding, in either case, with or without
// colons or spaces between the bytes. It returns nil on a match, an error
// wrapping [ErrThumbprintMismatch] otherwise, or one wrapping
// [ErrMalformed] when thumbprint is not a hex hash of either length.
func CheckThumbprint(cert *x509.Certificate, thumbprint string) error {
	if cert == nil {
		return ErrNoCertificate
	}
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(thumbprint))
	want, err := hex.DecodeString(clean)
	if err != nil {
		return fmt.Errorf("%w: the thumbprint is not hexadecimal", ErrMalformed)
	}
	var got []byte
	switch len(want) {
	case sha1.Size:
		s := sha1.Sum(cert.Raw) //nolint:gosec // see import
		got = s[:]
	case sha256.Size:
		s := sha256.Sum256(cert.Raw)
		got = s[:]
	default:
		return fmt.Errorf("%w: a thumbprint has 40 (SHA-1) or 64 (SHA-256) hex digits, not %d", ErrMalformed, len(clean))
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w: the certificate's thumbprint is %s", ErrThumbprintMismatch, Thumbprint(cert))
	}
	return nil
}

// x5t returns the base64url (unpadded) SHA-1 hash of der: a JWS x5t.
func x5t(der []byte) string {
	sum := sha1.Sum(der) //nolint:gosec // see import
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// x5tS256 returns the base64url (unpadded) SHA-256 hash of der: a JWS
// x5t#S256.
func x5tS256(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// publicKeyEqual reports whether two public keys are the same key.
func publicKeyEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// orderChain finds the certificate whose public key is pub and returns it
// first, followed by its issuers in order (each certifies the one before
// it, matched by name, stopping at a self-issued certificate), and then
// rest: the other certificates in their given order. ok is false when no
// certificate holds pub.
func orderChain(certs []*x509.Certificate, pub crypto.PublicKey) (chain, rest []*x509.Certificate, ok bool) {
	leaf := -1
	for i, c := range certs {
		if c != nil && publicKeyEqual(pub, c.PublicKey) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return nil, nil, false
	}
	used := make([]bool, len(certs))
	used[leaf] = true
	chain = []*x509.Certificate{certs[leaf]}
	for cur := certs[leaf]; !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		next := -1
		for i, c := range certs {
			if !used[i] && c != nil && bytes.Equal(c.RawSubject, cur.RawIssuer) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = certs[next]
		chain = append(chain, cur)
	}
	for i, c := range certs {
		if !used[i] && c != nil {
			rest = append(rest, c)
		}
	}
	return chain, rest, true
}
