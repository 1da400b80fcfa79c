package credential_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/bearerhttp/bearer/credential"
)

// BenchmarkCertificateApply measures signing one client assertion, the
// cost a Certificate credential adds to every token request.
func BenchmarkCertificateApply(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  string
		kind credential.AuthorityKind
		algs []string
	}{
		{"PS256_RSA_2048", rsa2048, credential.Entra, nil},
		{"RS256_RSA_2048", rsa2048, credential.ADFS, nil},
		{"PS256_RSA_4096", rsa4096, credential.Entra, nil},
		{"ES256_P-256", p256, credential.OIDC, nil},
		{"ES384_P-384", p384, credential.OIDC, nil},
		{"EdDSA_Ed25519", ed, credential.OIDC, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			key := testKey(b, bc.key)
			cred, err := credential.Certificate([]*x509.Certificate{selfSigned(b, key)}, key)
			if err != nil {
				b.Fatal(err)
			}
			req := credential.Request{ClientID: testClientID, Audience: testAudience, Kind: bc.kind, Algorithms: bc.algs}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := cred.Apply(ctx, req, url.Values{}, http.Header{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAssertionFileApply measures an Apply that sends the kept token
// (one stat of the file).
func BenchmarkAssertionFileApply(b *testing.B) {
	path := filepath.Join(b.TempDir(), "token")
	tok := jwtExp(time.Now().Add(time.Hour), "bench")
	if err := writeFileB(path, tok); err != nil {
		b.Fatal(err)
	}
	cred := credential.AssertionFile(path)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := cred.Apply(ctx, credential.Request{}, url.Values{}, http.Header{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCertificates measures reading a key and certificate, done
// once when an application starts.
func BenchmarkParseCertificates(b *testing.B) {
	key := testKey(b, rsa2048)
	c := selfSigned(b, key)
	for _, bc := range []struct {
		name     string
		data     []byte
		password string
	}{
		{"PEM_PKCS8_RSA_2048", cat(pkcs8PEM(b, key), certPEM(c)), ""},
		{"PEM_encrypted_PKCS8_RSA_2048", cat(encryptedPKCS8PEM(b, key, testPassword, nil), certPEM(c)), testPassword},
		{"PKCS12_Modern_RSA_2048", must(pkcs12.Modern.Encode(key, c, nil, testPassword)), testPassword},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := credential.ParseCertificates(bc.data, bc.password); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
