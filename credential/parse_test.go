package credential_test

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/bearerhttp/bearer/credential"
)

const testPassword = "c0rrect-h0rse!~battery"

// must returns v, panicking on err: for fixtures that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func pkcs1PEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	return pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(asRSA(tb, key)))
}

func sec1PEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	return pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(asEC(tb, key))))
}

func encryptedPKCS8PEM(tb testing.TB, key crypto.Signer, password string, opts *pkcs8.Opts) []byte {
	tb.Helper()
	der := must(pkcs8.MarshalPrivateKey(key, []byte(password), opts))
	return pemOf("ENCRYPTED PRIVATE KEY", der)
}

// legacyPEM encrypts a PKCS #1 or SEC 1 key the way "openssl rsa -aes256"
// did before PKCS #8 (Proc-Type: 4,ENCRYPTED).
func legacyPEM(tb testing.TB, typ string, der []byte, password string, alg x509.PEMCipher) []byte {
	tb.Helper()
	//lint:ignore SA1019 writing the legacy format is the point of this fixture.
	block, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(password), alg) //nolint:staticcheck // see above
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(block)
}

func pfxOf(tb testing.TB, enc *pkcs12.Encoder, key crypto.Signer, leaf *x509.Certificate, cas []*x509.Certificate, password string) []byte {
	tb.Helper()
	return must(enc.Encode(key, leaf, cas, password))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestParseCertificatesFormats parses every supported key and file format
// and checks the key is the one encoded and the certificates come back
// signing certificate first, then its issuers, then the rest.
func TestParseCertificatesFormats(t *testing.T) {
	r2, r4 := testKey(t, rsa2048), testKey(t, rsa4096)
	e256, e384, e521, edk := testKey(t, p256), testKey(t, p384), testKey(t, p521), testKey(t, ed)
	c2, c4 := selfSigned(t, r2), selfSigned(t, r4)
	c256, c384, c521, ced := selfSigned(t, e256), selfSigned(t, e384), selfSigned(t, e521), selfSigned(t, edk)
	chain := newPKI(t, rsa2048)
	ecParams := pemOf("EC PARAMETERS", must(asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})))
	crlf := bytes.ReplaceAll(cat(pkcs8PEM(t, e256), certPEM(c256)), []byte("\n"), []byte("\r\n"))
	bagAttributes := []byte("Bag Attributes\n    localKeyID: 01 00 00 00\n    friendlyName: client\nsubject=CN=client.example\n")
	scrypt := &pkcs8.Opts{Cipher: pkcs8.AES128GCM, KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1 << 10, BlockSize: 8, ParallelizationParameter: 1}}
	tripleDES := &pkcs8.Opts{Cipher: pkcs8.TripleDESCBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 2048, HMACHash: crypto.SHA1}}
	aes192 := &pkcs8.Opts{Cipher: pkcs8.AES192CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 1000, HMACHash: crypto.SHA256}}

	tests := []struct {
		name     string
		data     []byte
		password string
		key      crypto.Signer
		want     []*x509.Certificate
	}{
		{"PEM_PKCS1_RSA_2048", cat(pkcs1PEM(t, r2), certPEM(c2)), "", r2, []*x509.Certificate{c2}},
		{"PEM_PKCS1_RSA_4096", cat(certPEM(c4), pkcs1PEM(t, r4)), "", r4, []*x509.Certificate{c4}},
		{"PEM_PKCS8_RSA_2048", cat(pkcs8PEM(t, r2), certPEM(c2)), "", r2, []*x509.Certificate{c2}},
		{"PEM_PKCS8_RSA_4096", cat(pkcs8PEM(t, r4), certPEM(c4)), "", r4, []*x509.Certificate{c4}},
		{"PEM_PKCS8_P-256", cat(pkcs8PEM(t, e256), certPEM(c256)), "", e256, []*x509.Certificate{c256}},
		{"PEM_PKCS8_P-384", cat(pkcs8PEM(t, e384), certPEM(c384)), "", e384, []*x509.Certificate{c384}},
		{"PEM_PKCS8_P-521", cat(pkcs8PEM(t, e521), certPEM(c521)), "", e521, []*x509.Certificate{c521}},
		{"PEM_PKCS8_Ed25519", cat(pkcs8PEM(t, edk), certPEM(ced)), "", edk, []*x509.Certificate{ced}},
		{"PEM_SEC1_P-256_with_EC_PARAMETERS", cat(ecParams, sec1PEM(t, e256), certPEM(c256)), "", e256, []*x509.Certificate{c256}},
		{"PEM_SEC1_P-384", cat(certPEM(c384), sec1PEM(t, e384)), "", e384, []*x509.Certificate{c384}},
		{"PEM_SEC1_P-521", cat(sec1PEM(t, e521), certPEM(c521)), "", e521, []*x509.Certificate{c521}},
		{"PEM_encrypted_PKCS8_RSA_AES-256-CBC_PBKDF2", cat(encryptedPKCS8PEM(t, r2, testPassword, nil), certPEM(c2)), testPassword, r2, []*x509.Certificate{c2}},
		{"PEM_encrypted_PKCS8_RSA_4096", cat(certPEM(c4), encryptedPKCS8PEM(t, r4, testPassword, nil)), testPassword, r4, []*x509.Certificate{c4}},
		{"PEM_encrypted_PKCS8_P-256_AES-128-GCM_scrypt", cat(encryptedPKCS8PEM(t, e256, testPassword, scrypt), certPEM(c256)), testPassword, e256, []*x509.Certificate{c256}},
		{"PEM_encrypted_PKCS8_P-384_3DES_PBKDF2-SHA1", cat(encryptedPKCS8PEM(t, e384, testPassword, tripleDES), certPEM(c384)), testPassword, e384, []*x509.Certificate{c384}},
		{"PEM_encrypted_PKCS8_P-521_AES-192_PBKDF2-SHA256", cat(encryptedPKCS8PEM(t, e521, testPassword, aes192), certPEM(c521)), testPassword, e521, []*x509.Certificate{c521}},
		{"PEM_encrypted_PKCS8_Ed25519", cat(encryptedPKCS8PEM(t, edk, testPassword, nil), certPEM(ced)), testPassword, edk, []*x509.Certificate{ced}},
		{"PEM_legacy_encrypted_RSA_AES-256", cat(legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(asRSA(t, r2)), testPassword, x509.PEMCipherAES256), certPEM(c2)), testPassword, r2, []*x509.Certificate{c2}},
		{"PEM_legacy_encrypted_RSA_3DES", cat(certPEM(c4), legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(asRSA(t, r4)), testPassword, x509.PEMCipher3DES)), testPassword, r4, []*x509.Certificate{c4}},
		{"PEM_legacy_encrypted_EC_AES-128", cat(legacyPEM(t, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(asEC(t, e256))), testPassword, x509.PEMCipherAES128), certPEM(c256)), testPassword, e256, []*x509.Certificate{c256}},
		{"PEM_legacy_encrypted_PKCS8_DES", cat(legacyPEM(t, "PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(e384)), testPassword, x509.PEMCipherDES), certPEM(c384)), testPassword, e384, []*x509.Certificate{c384}},
		{"PEM_PKCS8_labelled_RSA_PRIVATE_KEY", cat(pemOf("RSA PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(r2))), certPEM(c2)), "", r2, []*x509.Certificate{c2}},
		{"PEM_SEC1_labelled_PRIVATE_KEY", cat(pemOf("PRIVATE KEY", must(x509.MarshalECPrivateKey(asEC(t, e256)))), certPEM(c256)), "", e256, []*x509.Certificate{c256}},
		{"PEM_password_given_for_a_plain_key_is_ignored", cat(pkcs8PEM(t, r2), certPEM(c2)), testPassword, r2, []*x509.Certificate{c2}},
		{"PEM_chain_scrambled_with_text_between", cat(bagAttributes, certPEM(chain.root), []byte("junk line\n"), pkcs8PEM(t, chain.key), bagAttributes, certPEM(chain.unrelated, chain.inter, chain.leaf)), "", chain.key, []*x509.Certificate{chain.leaf, chain.inter, chain.root, chain.unrelated}},
		{"PEM_CRLF_line_endings", crlf, "", e256, []*x509.Certificate{c256}},
		{"PEM_public_key_block_skipped", cat(pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(r2.Public()))), pkcs8PEM(t, r2), certPEM(c2)), "", r2, []*x509.Certificate{c2}},
		{"PKCS12_Modern2023_RSA_with_chain", pfxOf(t, pkcs12.Modern2023, chain.key, chain.leaf, []*x509.Certificate{chain.root, chain.inter}, testPassword), testPassword, chain.key, []*x509.Certificate{chain.leaf, chain.inter, chain.root}},
		{"PKCS12_Modern2026_P-256", pfxOf(t, pkcs12.Modern2026, e256, c256, nil, testPassword), testPassword, e256, []*x509.Certificate{c256}},
		{"PKCS12_Modern_RSA_4096", pfxOf(t, pkcs12.Modern, r4, c4, nil, testPassword), testPassword, r4, []*x509.Certificate{c4}},
		{"PKCS12_Modern_P-521", pfxOf(t, pkcs12.Modern, e521, c521, nil, testPassword), testPassword, e521, []*x509.Certificate{c521}},
		{"PKCS12_Modern_Ed25519", pfxOf(t, pkcs12.Modern, edk, ced, nil, testPassword), testPassword, edk, []*x509.Certificate{ced}},
		{"PKCS12_LegacyRC2_RSA", pfxOf(t, pkcs12.LegacyRC2, r2, c2, nil, testPassword), testPassword, r2, []*x509.Certificate{c2}},
		{"PKCS12_LegacyDES_P-384", pfxOf(t, pkcs12.LegacyDES, e384, c384, nil, testPassword), testPassword, e384, []*x509.Certificate{c384}},
		{"PKCS12_Modern_empty_password", pfxOf(t, pkcs12.Modern, r2, c2, nil, ""), "", r2, []*x509.Certificate{c2}},
		{"PKCS12_Passwordless", pfxOf(t, pkcs12.Passwordless, e256, c256, nil, ""), "", e256, []*x509.Certificate{c256}},
		{"PKCS12_Passwordless_given_a_password", pfxOf(t, pkcs12.Passwordless, e256, c256, nil, ""), testPassword, e256, []*x509.Certificate{c256}},
		{"PKCS12_unicode_password", pfxOf(t, pkcs12.Modern, r2, c2, nil, "pässwörd-€"), "pässwörd-€", r2, []*x509.Certificate{c2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, key, err := credential.ParseCertificates(tt.data, tt.password)
			if err != nil {
				t.Fatalf("ParseCertificates: %v", err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.key.Public()) {
				t.Error("parsed key is not the encoded key")
			}
			if len(certs) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(certs), len(tt.want))
			}
			for i := range certs {
				if !certs[i].Equal(tt.want[i]) {
					t.Errorf("certs[%d] = %q, want %q", i, certs[i].Subject.CommonName, tt.want[i].Subject.CommonName)
				}
			}
			// What it returns makes a working credential.
			if _, err := credential.Certificate(certs, key); err != nil {
				t.Errorf("Certificate of the parsed values: %v", err)
			}
		})
	}
}

func TestParseCertificatesErrors(t *testing.T) {
	r2, e256 := testKey(t, rsa2048), testKey(t, p256)
	c2, c256 := selfSigned(t, r2), selfSigned(t, e256)
	encrypted := cat(encryptedPKCS8PEM(t, r2, testPassword, nil), certPEM(c2))
	gcm := cat(encryptedPKCS8PEM(t, e256, testPassword, &pkcs8.Opts{Cipher: pkcs8.AES256GCM, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 16, IterationCount: 1000, HMACHash: crypto.SHA256}}), certPEM(c256))
	legacy := cat(legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(asRSA(t, r2)), testPassword, x509.PEMCipherAES256), certPEM(c2))
	legacyEC := cat(legacyPEM(t, "EC PRIVATE KEY", must(x509.MarshalECPrivateKey(asEC(t, e256))), testPassword, x509.PEMCipher3DES), certPEM(c256))
	modern := pfxOf(t, pkcs12.Modern, r2, c2, nil, testPassword)
	modern2026 := pfxOf(t, pkcs12.Modern2026, r2, c2, nil, testPassword)
	rc2 := pfxOf(t, pkcs12.LegacyRC2, r2, c2, nil, testPassword)
	des := pfxOf(t, pkcs12.LegacyDES, r2, c2, nil, testPassword)
	trustStore := must(pkcs12.Modern.EncodeTrustStore([]*x509.Certificate{c2, c256}, testPassword))
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519PEM := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(x25519)))
	pbes1 := pemOf("ENCRYPTED PRIVATE KEY", must(asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}, Parameters: asn1.NullRawValue}, []byte("0123456789abcdef")})))
	badPBES2 := pemOf("ENCRYPTED PRIVATE KEY", must(asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.NullRawValue}, []byte("0123456789abcdef")})))
	garbage := make([]byte, 512)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	garbage[0] = 0x02 // not a SEQUENCE, so not mistaken for DER

	tests := []struct {
		name     string
		data     []byte
		password string
		want     error
	}{
		{"encrypted_PKCS8_wrong_password", encrypted, "wrong-password!~", credential.ErrWrongPassword},
		{"encrypted_PKCS8_no_password", encrypted, "", credential.ErrWrongPassword},
		{"encrypted_PKCS8_GCM_wrong_password", gcm, "wrong-password!~", credential.ErrWrongPassword},
		{"encrypted_PKCS8_truncated_ciphertext", cat(truncateEncrypted(t, encryptedPKCS8PEM(t, r2, testPassword, nil)), certPEM(c2)), testPassword, credential.ErrMalformed},
		{"encrypted_PKCS8_PBES1_unsupported", cat(pbes1, certPEM(c2)), testPassword, credential.ErrMalformed},
		{"encrypted_PKCS8_bad_PBES2_parameters", cat(badPBES2, certPEM(c2)), testPassword, credential.ErrMalformed},
		{"legacy_encrypted_RSA_wrong_password", legacy, "wrong-password!~", credential.ErrWrongPassword},
		{"legacy_encrypted_RSA_no_password", legacy, "", credential.ErrWrongPassword},
		{"legacy_encrypted_EC_wrong_password", legacyEC, "wrong-password!~", credential.ErrWrongPassword},
		{"legacy_encrypted_bad_DEK-Info", cat(badDEKInfo(t, legacy)), testPassword, credential.ErrMalformed},
		{"PKCS12_Modern_wrong_password", modern, "wrong-password!~", credential.ErrWrongPassword},
		{"PKCS12_Modern_no_password", modern, "", credential.ErrWrongPassword},
		{"PKCS12_Modern2026_wrong_password", modern2026, "wrong-password!~", credential.ErrWrongPassword},
		{"PKCS12_LegacyRC2_wrong_password", rc2, "wrong-password!~", credential.ErrWrongPassword},
		{"PKCS12_LegacyDES_wrong_password", des, "wrong-password!~", credential.ErrWrongPassword},
		{"PKCS12_trust_store_has_no_key", trustStore, testPassword, credential.ErrNoPrivateKey},
		{"PKCS12_truncated", modern[:len(modern)/2], testPassword, credential.ErrMalformed},
		{"PEM_certificates_only", certPEM(c2, c256), "", credential.ErrNoPrivateKey},
		{"PEM_key_only", pkcs8PEM(t, r2), "", credential.ErrNoCertificate},
		{"PEM_two_keys", cat(pkcs8PEM(t, r2), sec1PEM(t, e256), certPEM(c2, c256)), "", credential.ErrMultipleKeys},
		{"PEM_same_key_twice", cat(pkcs8PEM(t, r2), pkcs1PEM(t, r2), certPEM(c2)), "", credential.ErrMultipleKeys},
		{"PEM_key_matches_no_certificate", cat(pkcs8PEM(t, r2), certPEM(c256)), "", credential.ErrKeyMismatch},
		{"PEM_X25519_key_cannot_sign", cat(x25519PEM, certPEM(c2)), "", credential.ErrUnsupportedKey},
		{"PEM_certificate_with_junk_DER", cat(pemOf("CERTIFICATE", []byte("not a certificate")), pkcs8PEM(t, r2)), "", credential.ErrMalformed},
		{"PEM_key_with_junk_DER", cat(pemOf("PRIVATE KEY", []byte("not a key at all")), certPEM(c2)), "", credential.ErrMalformed},
		{"PEM_body_not_base64", []byte("-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n"), "", credential.ErrMalformed},
		{"PEM_header_without_end", []byte("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"), "", credential.ErrMalformed},
		{"DER_certificate_alone", c2.Raw, "", credential.ErrNoPrivateKey},
		{"DER_PKCS8_key_alone", must(x509.MarshalPKCS8PrivateKey(r2)), "", credential.ErrNoCertificate},
		{"DER_PKCS1_key_alone", x509.MarshalPKCS1PrivateKey(asRSA(t, r2)), testPassword, credential.ErrNoCertificate},
		{"random_bytes", garbage, testPassword, credential.ErrMalformed},
		{"text", []byte("this is not a certificate"), "", credential.ErrMalformed},
		{"empty", nil, "", credential.ErrMalformed},
		{"white_space", []byte(" \n\t\r\n"), "", credential.ErrMalformed},
	}
	secrets := append(append(leakMarkers(r2), leakMarkers(e256)...), testPassword, "wrong-password!~")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, key, err := credential.ParseCertificates(tt.data, tt.password)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if certs != nil || key != nil {
				t.Error("values returned with the error")
			}
			for _, other := range parseErrors {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err also matches %v", other)
				}
			}
			assertNoLeak(t, "error", err.Error(), secrets...)
			t.Log(err)
		})
	}
}

// truncateEncrypted shortens an encrypted PKCS #8 key's ciphertext to a
// length that is no whole number of cipher blocks.
func truncateEncrypted(tb testing.TB, p []byte) []byte {
	tb.Helper()
	block, _ := pem.Decode(p)
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}
	if _, err := asn1.Unmarshal(block.Bytes, &info); err != nil {
		tb.Fatal(err)
	}
	info.Data = info.Data[:len(info.Data)-3]
	return pemOf(block.Type, must(asn1.Marshal(info)))
}

// badDEKInfo corrupts a legacy encrypted PEM key's DEK-Info header.
func badDEKInfo(tb testing.TB, p []byte) []byte {
	tb.Helper()
	block, rest := pem.Decode(p)
	block.Headers["DEK-Info"] = "AES-256-CBC,zz"
	return cat(pem.EncodeToMemory(block), rest)
}

// TestMSALPythonCertificateDict maps MSAL Python's client_credential
// dictionary onto ParseCertificates, CheckThumbprint and Certificate.
func TestMSALPythonCertificateDict(t *testing.T) {
	p := newPKI(t, rsa2048)
	sum := sha1.Sum(p.leaf.Raw)
	dict := map[string]string{
		"private_key":        string(encryptedPKCS8PEM(t, p.key, testPassword, nil)),
		"thumbprint":         hex.EncodeToString(sum[:]), // as MSAL Python takes it
		"passphrase":         testPassword,
		"public_certificate": string(certPEM(p.leaf, p.inter)),
	}
	certs, key, err := credential.ParseCertificates([]byte(dict["private_key"]+dict["public_certificate"]), dict["passphrase"])
	if err != nil {
		t.Fatal(err)
	}
	if err := credential.CheckThumbprint(certs[0], dict["thumbprint"]); err != nil {
		t.Fatalf("thumbprint: %v", err)
	}
	var opts []credential.CertificateOption
	if dict["public_certificate"] != "" {
		opts = append(opts, credential.WithX5C()) // MSAL Python sends x5c when public_certificate is given
	}
	cred, err := credential.Certificate(certs, key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	header, _ := jwtParts(t, applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.Entra}))
	if x5c, _ := header["x5c"].([]any); len(x5c) != 2 {
		t.Errorf("x5c = %v, want the two certificates", header["x5c"])
	}

	// A thumbprint of another certificate is caught.
	other := sha1.Sum(p.inter.Raw)
	if err := credential.CheckThumbprint(certs[0], hex.EncodeToString(other[:])); !errors.Is(err, credential.ErrThumbprintMismatch) {
		t.Errorf("wrong thumbprint: err = %v", err)
	}
}

func TestThumbprint(t *testing.T) {
	c := selfSigned(t, testKey(t, p256))
	s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
	upper := strings.ToUpper(hex.EncodeToString(s1[:]))
	if got := credential.Thumbprint(c); got != upper {
		t.Errorf("Thumbprint = %s, want %s", got, upper)
	}
	colons := func(b []byte) string {
		var parts []string
		for _, x := range b {
			parts = append(parts, hex.EncodeToString([]byte{x}))
		}
		return strings.Join(parts, ":")
	}
	for _, tt := range []struct {
		name string
		in   string
		want error
	}{
		{"SHA-1_upper_case", upper, nil},
		{"SHA-1_lower_case", strings.ToLower(upper), nil},
		{"SHA-1_with_colons", colons(s1[:]), nil},
		{"SHA-1_with_spaces_around", "  " + upper + "\n", nil},
		{"SHA-256_hex", hex.EncodeToString(s256[:]), nil},
		{"SHA-256_with_colons", colons(s256[:]), nil},
		{"another_certificate", strings.Repeat("AB", 20), credential.ErrThumbprintMismatch},
		{"another_SHA-256", strings.Repeat("ab", 32), credential.ErrThumbprintMismatch},
		{"not_hex", strings.Repeat("ZZ", 20), credential.ErrMalformed},
		{"odd_length", upper[:39], credential.ErrMalformed},
		{"wrong_length", upper[:38], credential.ErrMalformed},
		{"empty", "", credential.ErrMalformed},
		{"base64url_x5t_is_not_a_hex_thumbprint", b64urlSHA1(c.Raw), credential.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := credential.CheckThumbprint(c, tt.in)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("CheckThumbprint(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
	if err := credential.CheckThumbprint(nil, upper); !errors.Is(err, credential.ErrNoCertificate) {
		t.Errorf("nil certificate: err = %v", err)
	}
}
