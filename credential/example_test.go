package credential_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/credential"
)

// A client secret goes in the form, or in HTTP Basic authentication when
// the authority takes only that. Printing the credential never shows it.
func ExampleSecret() {
	cred := credential.Secret("my-client-secret")
	if err := credential.Validate(cred); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cred)

	form := url.Values{}
	req := credential.Request{ClientID: "my-app"}
	if err := cred.Apply(context.Background(), req, form, http.Header{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(form.Encode())

	header := http.Header{}
	req.AuthMethods = []string{"client_secret_basic"}
	if err := cred.Apply(context.Background(), req, url.Values{}, header); err != nil {
		log.Fatal(err)
	}
	fmt.Println(header.Get("Authorization"))

	fmt.Println(credential.Validate(credential.Secret("")))
	// Output:
	// credential.Secret(REDACTED)
	// client_secret=my-client-secret
	// Basic bXktYXBwOm15LWNsaWVudC1zZWNyZXQ=
	// credential: the client secret is empty
}

// A certificate credential signs a fresh JWT assertion for every token
// request, in the format the authority takes: here Entra's PS256 with the
// certificate's SHA-256 thumbprint, and its chain for SN/I.
func ExampleCertificate() {
	certPEM, err := os.ReadFile("testdata/example_client.crt")
	if err != nil {
		log.Fatal(err)
	}
	keyPEM, err := os.ReadFile("testdata/example_client.key")
	if err != nil {
		log.Fatal(err)
	}
	certs, key, err := credential.ParseCertificates(append(keyPEM, certPEM...), "example-passphrase")
	if err != nil {
		log.Fatal(err)
	}
	cred, err := credential.Certificate(certs, key, credential.WithX5C())
	if err != nil {
		log.Fatal(err)
	}

	// Package flow fills the request; here it is filled by hand.
	form := url.Values{}
	err = cred.Apply(context.Background(), credential.Request{
		ClientID: "00000000-0000-0000-0000-000000000001",
		Audience: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
		Kind:     credential.Entra,
	}, form, http.Header{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client_assertion_type:", form.Get("client_assertion_type"))

	msg, err := jws.Parse([]byte(form.Get("client_assertion")))
	if err != nil {
		log.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	fmt.Println("alg:", h.Algorithm(), "typ:", h.Type(), "x5c:", h.X509CertChain().Len())
	_, err = jws.Verify([]byte(form.Get("client_assertion")), jws.WithKey(jwa.PS256, certs[0].PublicKey))
	fmt.Println("verifies with the certificate:", err == nil)
	// Output:
	// client_assertion_type: urn:ietf:params:oauth:client-assertion-type:jwt-bearer
	// alg: PS256 typ: JWT x5c: 1
	// verifies with the certificate: true
}

// MSAL Python's certificate dictionary maps onto ParseCertificates:
//
//	client_credential = {
//	    "private_key": open("example_client.key").read(),
//	    "thumbprint": "AFCB7826AD914205381457129913123443F133D1",
//	    "passphrase": "example-passphrase",
//	    "public_certificate": open("example_client.crt").read(),  # sends x5c
//	}
//
// PKCS #12 files (MSAL Python's "private_key_pfx_path") parse the same
// way, with the file's bytes as data.
func ExampleParseCertificates() {
	privateKey, err := os.ReadFile("testdata/example_client.key")
	if err != nil {
		log.Fatal(err)
	}
	publicCertificate, err := os.ReadFile("testdata/example_client.crt")
	if err != nil {
		log.Fatal(err)
	}
	certs, key, err := credential.ParseCertificates(append(privateKey, publicCertificate...), "example-passphrase")
	if err != nil {
		log.Fatal(err)
	}
	if err := credential.CheckThumbprint(certs[0], "AFCB7826AD914205381457129913123443F133D1"); err != nil {
		log.Fatal(err)
	}
	cred, err := credential.Certificate(certs, key, credential.WithX5C())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(certs[0].Subject.CommonName, credential.Thumbprint(certs[0]))
	fmt.Println(credential.Validate(cred))

	_, _, err = credential.ParseCertificates(append(privateKey, publicCertificate...), "not the passphrase")
	fmt.Println(errors.Is(err, credential.ErrWrongPassword))
	// Output:
	// bearer example client AFCB7826AD914205381457129913123443F133D1
	// <nil>
	// true
}

// An assertion callback supplies an assertion made elsewhere: a token
// from another identity provider (workload identity federation), or one
// signed by a KMS or HSM.
func ExampleAssertion() {
	cred := credential.Assertion(func(ctx context.Context, req credential.AssertionRequest) (string, error) {
		// Get or sign a JWT for req.ClientID with aud req.TokenEndpoint.
		return federatedToken(ctx, req.TokenEndpoint)
	})
	form := url.Values{}
	err := cred.Apply(context.Background(), credential.Request{
		ClientID: "00000000-0000-0000-0000-000000000001",
		Audience: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	}, form, http.Header{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(form.Get("client_assertion_type"))
	fmt.Println(form.Get("client_assertion"))
	// Output:
	// urn:ietf:params:oauth:client-assertion-type:jwt-bearer
	// eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9BenVyZUFEVG9rZW5FeGNoYW5nZSJ9.c2ln
}

// federatedToken stands for a call to another identity provider.
func federatedToken(context.Context, string) (string, error) {
	return "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9BenVyZUFEVG9rZW5FeGNoYW5nZSJ9.c2ln", nil
}

// An assertion file is read again when it changes, as Kubernetes rotates
// a projected service account token, and an expired token is never sent.
func ExampleAssertionFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "azure-identity-token") // e.g. os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
	enc := base64.RawURLEncoding.EncodeToString
	exp := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := enc([]byte(`{"alg":"RS256"}`)) + "." + enc(fmt.Appendf(nil, `{"aud":"api://AzureADTokenExchange","exp":%d}`, exp.Unix())) + ".c2ln"
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	cred := credential.AssertionFile(path)
	form := url.Values{}
	req := credential.Request{ClientID: "00000000-0000-0000-0000-000000000001", Now: exp.Add(-time.Hour)}
	if err := cred.Apply(context.Background(), req, form, http.Header{}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(form.Get("client_assertion") == tok)

	req.Now = exp
	err = cred.Apply(context.Background(), req, url.Values{}, http.Header{})
	fmt.Println(errors.Is(err, credential.ErrAssertionExpired))
	// Output:
	// true
	// true
}

// An OIDC authority takes the algorithm its discovery document lists; an
// ECDSA P-256 key signs ES256.
func ExampleCertificate_oidc() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	cred, err := credential.Certificate([]*x509.Certificate{cert}, key, credential.WithKeyID("client-key-1"))
	if err != nil {
		log.Fatal(err)
	}
	form := url.Values{}
	err = cred.Apply(context.Background(), credential.Request{
		ClientID: "my-client", Audience: "https://idp.example/token", Kind: credential.OIDC,
		Algorithms: []string{"RS256", "ES256", "PS256"}, // token_endpoint_auth_signing_alg_values_supported
	}, form, http.Header{})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := jws.Parse([]byte(form.Get("client_assertion")))
	if err != nil {
		log.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	fmt.Println(h.Algorithm(), h.KeyID())

	// Entra takes RSA keys only.
	err = cred.Apply(context.Background(), credential.Request{ClientID: "my-client", Audience: "https://login.microsoftonline.com/t/oauth2/v2.0/token", Kind: credential.Entra}, url.Values{}, http.Header{})
	fmt.Println(err)
	// Output:
	// ES256 client-key-1
	// credential: unsupported key: Entra takes PS256 assertions, which need an RSA key, not ECDSA P-256
}
