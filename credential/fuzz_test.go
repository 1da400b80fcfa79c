package credential_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/bearerhttp/bearer/credential"
)

// fuzzPassword has characters no error message of the package contains,
// so finding it in an error means the password leaked.
const fuzzPassword = "Fz!~pw|^*$9"

// FuzzParseCertificates feeds ParseCertificates PEM in every supported
// form, PKCS#12 files and garbage. It must never panic; on success the
// first certificate holds the key's public key; on failure the error
// wraps a documented sentinel and does not contain the password.
func FuzzParseCertificates(f *testing.F) {
	r2, e256, edk := testKey(f, rsa2048), testKey(f, p256), testKey(f, ed)
	c2, c256, ced := selfSigned(f, r2), selfSigned(f, e256), selfSigned(f, edk)
	p := newPKI(f, p384)
	seeds := []struct {
		data     []byte
		password string
	}{
		{cat(pkcs1PEM(f, r2), certPEM(c2)), ""},
		{cat(certPEM(c256), pkcs8PEM(f, e256)), ""},
		{cat(sec1PEM(f, e256), certPEM(c256)), ""},
		{cat(pkcs8PEM(f, edk), certPEM(ced)), ""},
		{cat(encryptedPKCS8PEM(f, e256, fuzzPassword, nil), certPEM(c256)), fuzzPassword},
		{cat(encryptedPKCS8PEM(f, e256, fuzzPassword, &pkcs8.Opts{Cipher: pkcs8.AES128GCM, KDFOpts: pkcs8.ScryptOpts{SaltSize: 8, CostParameter: 16, BlockSize: 1, ParallelizationParameter: 1}}), certPEM(c256)), fuzzPassword},
		{cat(legacyPEM(f, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(asEC(f, e256))), fuzzPassword, x509.PEMCipherAES128), certPEM(c256)), fuzzPassword},
		{cat(certPEM(p.root, p.inter), pkcs8PEM(f, p.key), certPEM(p.leaf)), ""},
		{must(pkcs12.Modern.WithIterations(16).Encode(e256, c256, nil, fuzzPassword)), fuzzPassword},
		{must(pkcs12.LegacyDES.WithIterations(16).Encode(p.key, p.leaf, []*x509.Certificate{p.inter}, fuzzPassword)), fuzzPassword},
		{must(pkcs12.Passwordless.Encode(e256, c256, nil, "")), ""},
		{c256.Raw, ""},
		{must(x509.MarshalPKCS8PrivateKey(e256)), ""},
		{[]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), ""},
		{[]byte("-----BEGIN"), fuzzPassword},
		{[]byte{0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03}, fuzzPassword},
		{nil, ""},
	}
	garbage := make([]byte, 64)
	_, _ = rand.Read(garbage)
	seeds = append(seeds, struct {
		data     []byte
		password string
	}{garbage, fuzzPassword})
	for _, s := range seeds {
		f.Add(s.data, s.password)
	}
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		certs, key, err := credential.ParseCertificates(data, password)
		if err != nil {
			if certs != nil || key != nil {
				t.Error("values returned with an error")
			}
			if !errorIsOneOf(err, parseErrors...) {
				t.Errorf("error wraps no documented sentinel: %v", err)
			}
			if strings.ContainsAny(password, "!~|^*$") && len(password) >= 6 {
				assertNoLeak(t, "error", err.Error(), password)
			}
			return
		}
		if key == nil || len(certs) == 0 {
			t.Fatal("success without a key and a certificate")
		}
		eq, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(certs[0].PublicKey) {
			t.Error("the first certificate does not hold the key's public key")
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("nil certificate returned")
			}
		}
		if _, err := credential.Certificate(certs, key); err != nil && !errorIsOneOf(err,
			credential.ErrUnsupportedKey, credential.ErrWeakKey, credential.ErrCertificateExpired, credential.ErrCertificateNotYetValid) {
			t.Errorf("Certificate of parsed values: %v", err)
		}
		if errors.Is(err, credential.ErrKeyMismatch) {
			t.Error("Certificate reports a key mismatch that ParseCertificates did not")
		}
	})
}
