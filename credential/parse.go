package credential

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// ParseCertificates reads a private key and its certificates from data,
// decrypting with password where the data is encrypted, and returns them
// ready for [Certificate]: the key's certificate first, then its issuers
// (each certifying the one before it), then any other certificates in the
// order they came.
//
// data is either PEM or a PKCS#12 (.pfx, .p12) file. PEM may hold, in any
// order and with any text between them:
//   - CERTIFICATE blocks;
//   - one private key: RSA PRIVATE KEY (PKCS #1), EC PRIVATE KEY (SEC 1),
//     PRIVATE KEY (PKCS #8: RSA, ECDSA or Ed25519), ENCRYPTED PRIVATE KEY
//     (PKCS #8 encrypted with PBES2: PBKDF2 with HMAC-SHA1 or HMAC-SHA256,
//     or scrypt; AES-CBC, AES-GCM or 3DES-CBC), or a
//     legacy OpenSSL-encrypted RSA or EC key (Proc-Type: 4,ENCRYPTED);
//   - other blocks (EC PARAMETERS, PUBLIC KEY, ...), which are skipped.
//
// A PKCS#12 file must hold one private key and at least one certificate;
// its encryption may be any that go-pkcs12 decodes (PBES2 with AES, as
// written by current OpenSSL and Windows, and the legacy 3DES and RC2).
// A password given for data that is not encrypted is ignored. Other
// binary data is not read: a lone DER certificate or key is reported as
// lacking the other ([ErrNoPrivateKey], [ErrNoCertificate]).
//
// MSAL Python's certificate dictionary maps onto it: concatenate
// "private_key" and "public_certificate" into data, pass "passphrase" as
// password, and check "thumbprint" with [CheckThumbprint].
//
// Errors wrap [ErrWrongPassword], [ErrNoPrivateKey], [ErrNoCertificate],
// [ErrMultipleKeys], [ErrKeyMismatch], [ErrUnsupportedKey] or
// [ErrMalformed]; they never contain the key, the password or data.
func ParseCertificates(data []byte, password string) ([]*x509.Certificate, crypto.Signer, error) {
	var (
		certs []*x509.Certificate
		key   any
		err   error
	)
	if bytes.Contains(data, []byte("-----BEGIN")) {
		certs, key, err = parsePEM(data, password)
	} else {
		certs, key, err = parseDER(data, password)
	}
	if err != nil {
		return nil, nil, err
	}
	if key == nil {
		return nil, nil, fmt.Errorf("%w: the data holds %s and no key", ErrNoPrivateKey, plural(len(certs), "certificate"))
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%w: a %T cannot sign", ErrUnsupportedKey, key)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%w: the data holds a private key and no certificate", ErrNoCertificate)
	}
	chain, rest, ok := orderChain(certs, signer.Public())
	if !ok {
		return nil, nil, fmt.Errorf("%w: its public key is in none of the %s", ErrKeyMismatch, plural(len(certs), "certificate"))
	}
	return append(chain, rest...), signer, nil
}

// parsePEM reads every PEM block of data.
func parsePEM(data []byte, password string) (certs []*x509.Certificate, key any, err error) {
	blocks := 0
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		blocks++
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %s (PEM block %d, CERTIFICATE)", ErrMalformed, brief(err), n)
			}
			certs = append(certs, c)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if key != nil {
				return nil, nil, fmt.Errorf("%w: PEM block %d, %s, is a second key", ErrMultipleKeys, n, block.Type)
			}
			if key, err = parsePEMKey(block, password); err != nil {
				return nil, nil, fmt.Errorf("%w (PEM block %d, %s)", err, n, block.Type)
			}
		}
	}
	if blocks == 0 {
		return nil, nil, fmt.Errorf("%w: the data has a PEM header but no PEM block could be decoded", ErrMalformed)
	}
	return certs, key, nil
}

// parsePEMKey reads a private key block, decrypting it if need be.
func parsePEMKey(block *pem.Block, password string) (any, error) {
	der := block.Bytes
	//lint:ignore SA1019 legacy OpenSSL-encrypted PEM keys are still in use; they have to be read.
	if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // see above
		if password == "" {
			return nil, fmt.Errorf("%w: the key is encrypted (Proc-Type: 4,ENCRYPTED) and no password was given", ErrWrongPassword)
		}
		//lint:ignore SA1019 see above: reading legacy files only, never writing them.
		plain, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck // see above
		if err != nil {
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, fmt.Errorf("%w: the key (Proc-Type: 4,ENCRYPTED) does not decrypt with it", ErrWrongPassword)
			}
			return nil, fmt.Errorf("%w: the encrypted key (Proc-Type: 4,ENCRYPTED) cannot be decrypted: %s", ErrMalformed, brief(err))
		}
		key, err := parseKeyDER(block.Type, plain)
		if err != nil {
			// Without a padding failure a wrong password still yields
			// bytes that are not a key, about once in 256 tries.
			return nil, fmt.Errorf("%w: the key (Proc-Type: 4,ENCRYPTED) does not decrypt to a key with it", ErrWrongPassword)
		}
		return key, nil
	}
	if block.Type != "ENCRYPTED PRIVATE KEY" {
		key, err := parseKeyDER(block.Type, der)
		if err != nil {
			return nil, fmt.Errorf("%w: not a PKCS #1, PKCS #8 or SEC 1 private key: %s", ErrMalformed, brief(err))
		}
		return key, nil
	}
	return parseEncryptedPKCS8(der, password)
}

// parseEncryptedPKCS8 decrypts and parses an EncryptedPrivateKeyInfo.
func parseEncryptedPKCS8(der []byte, password string) (any, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a PKCS #8 EncryptedPrivateKeyInfo", ErrMalformed)
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: encrypted PKCS #8 with algorithm %s; only PBES2 (PKCS #5 v2) is supported", ErrMalformed, info.Algorithm.Algorithm)
	}
	if password == "" {
		return nil, fmt.Errorf("%w: the key is encrypted and no password was given", ErrWrongPassword)
	}
	key, err := recovering(func() (any, error) { return pkcs8.ParsePKCS8PrivateKey(der, []byte(password)) })
	if errors.Is(err, ErrMalformed) {
		return nil, err
	}
	if err != nil {
		// The library reports unsupported ciphers, KDFs and parameters
		// with messages of their own; every other failure is a
		// decryption that did not yield a key.
		if msg := err.Error(); strings.Contains(msg, "unsupported") || strings.Contains(msg, "invalid") {
			return nil, fmt.Errorf("%w: encrypted PKCS #8: %s", ErrMalformed, brief(err))
		}
		return nil, fmt.Errorf("%w: the encrypted PKCS #8 key does not decrypt with it", ErrWrongPassword)
	}
	return key, nil
}

// oidPBES2 is PKCS #5 v2's password-based encryption scheme.
var oidPBES2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}

// parseKeyDER parses an unencrypted private key, trying the format its PEM
// type names first and the others after (files are often mislabelled).
func parseKeyDER(typ string, der []byte) (any, error) {
	parsers := []func([]byte) (any, error){parsePKCS8, parsePKCS1, parseSEC1}
	switch typ {
	case "RSA PRIVATE KEY":
		parsers = []func([]byte) (any, error){parsePKCS1, parsePKCS8, parseSEC1}
	case "EC PRIVATE KEY":
		parsers = []func([]byte) (any, error){parseSEC1, parsePKCS8, parsePKCS1}
	}
	var first error
	for _, p := range parsers {
		key, err := p(der)
		if err == nil {
			return key, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

func parsePKCS8(der []byte) (any, error) { return x509.ParsePKCS8PrivateKey(der) }
func parsePKCS1(der []byte) (any, error) {
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, err
	}
	return k, nil
}
func parseSEC1(der []byte) (any, error) {
	k, err := x509.ParseECPrivateKey(der)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// parseDER reads binary data: a PKCS#12 file, or else a lone DER
// certificate or key, which is named in the error it makes.
func parseDER(data []byte, password string) ([]*x509.Certificate, any, error) {
	p, err := decodePKCS12(data, password)
	if err != nil && password != "" && !errors.Is(err, ErrMalformed) && strings.Contains(err.Error(), "no MAC") {
		// A password-less PKCS#12 file given a password: read it as
		// what it is.
		p, err = decodePKCS12(data, "")
	}
	if err == nil {
		return append([]*x509.Certificate{p.leaf}, p.cas...), p.key, nil
	}
	switch msg := err.Error(); {
	case errors.Is(err, ErrMalformed):
		return nil, nil, err
	case errors.Is(err, pkcs12.ErrIncorrectPassword), errors.Is(err, pkcs12.ErrDecryption):
		if password == "" {
			return nil, nil, fmt.Errorf("%w: the PKCS #12 file is protected and no password was given", ErrWrongPassword)
		}
		return nil, nil, fmt.Errorf("%w: the PKCS #12 file does not decrypt with it", ErrWrongPassword)
	case strings.Contains(msg, "no MAC"):
		return nil, nil, fmt.Errorf("%w: the PKCS #12 file has no integrity MAC", ErrMalformed)
	case strings.Contains(msg, "certificate missing"):
		return nil, nil, fmt.Errorf("%w: the PKCS #12 file holds no certificate", ErrNoCertificate)
	case strings.Contains(msg, "private key missing"):
		return nil, nil, fmt.Errorf("%w: the PKCS #12 file holds no private key", ErrNoPrivateKey)
	case strings.Contains(msg, "exactly one key bag"):
		return nil, nil, fmt.Errorf("%w: the PKCS #12 file holds several", ErrMultipleKeys)
	}
	if c, cerr := x509.ParseCertificate(data); cerr == nil {
		return []*x509.Certificate{c}, nil, nil // reported as ErrNoPrivateKey
	}
	if _, kerr := parseKeyDER("", data); kerr == nil {
		return nil, nil, fmt.Errorf("%w: the data is a lone DER private key", ErrNoCertificate)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("%w: the data is empty", ErrMalformed)
	}
	return nil, nil, fmt.Errorf("%w: neither PEM nor PKCS #12 (%s)", ErrMalformed, brief(err))
}

// pfx is what a PKCS#12 file holds.
type pfx struct {
	key  any
	leaf *x509.Certificate
	cas  []*x509.Certificate
}

// decodePKCS12 decodes a PKCS#12 file.
func decodePKCS12(data []byte, password string) (pfx, error) {
	return recovering(func() (pfx, error) {
		key, leaf, cas, err := pkcs12.DecodeChain(data, password)
		return pfx{key, leaf, cas}, err
	})
}

// recovering runs a third-party decoder, turning a panic on malformed
// input (crypto/cipher panics on a ciphertext or IV of the wrong length)
// into an error wrapping [ErrMalformed]. The panic's value is not kept: it
// might describe the data.
func recovering[T any](decode func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v, err = zero, fmt.Errorf("%w: the decoder failed on malformed input", ErrMalformed)
		}
	}()
	return decode()
}

// brief returns a decoder's error message without the ASN.1 structure
// dump encoding/asn1 appends, which says nothing a user can act on.
func brief(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "asn1: "); i >= 0 {
		return msg[:i] + "invalid ASN.1 DER"
	}
	return msg
}

// plural returns "1 certificate" or "n certificates".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
