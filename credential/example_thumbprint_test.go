package credential_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/credential"
)

// assertionHeader applies cred for Entra and returns its assertion's alg
// and thumbprint headers.
func assertionHeader(cred credential.Credential) string {
	form := url.Values{}
	err := cred.Apply(context.Background(), credential.Request{
		ClientID: "00000000-0000-0000-0000-000000000001",
		Audience: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
		Kind:     credential.Entra,
	}, form, http.Header{})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := jws.Parse([]byte(form.Get("client_assertion")))
	if err != nil {
		log.Fatal(err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	return fmt.Sprintf("alg %s, x5t %v, x5t#S256 %v, x5c %v", h.Algorithm(), h.X509CertThumbprint() != "", h.X509CertThumbprintS256() != "", h.X509CertChain() != nil)
}

// A private key and the thumbprint the Azure portal shows, without the
// certificate: RS256 with x5t, as MSAL Python signs it.
func ExampleCertificateThumbprint() {
	key, err := rsa.GenerateKey(rand.Reader, 2048) // an HSM or KMS signer works too
	if err != nil {
		log.Fatal(err)
	}
	cred, err := credential.CertificateThumbprint(key, "AFCB7826AD914205381457129913123443F133D1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(assertionHeader(cred))
	fmt.Println(cred)
	// Output:
	// alg RS256, x5t true, x5t#S256 false, x5c false
	// credential.CertificateThumbprint(RSA key, x5t r8t4Jq2RQgU4FFcSmRMSNEPxM9E)
}

// MSAL Python's client_credential dict, from JSON configuration, made into
// a credential in one call.
func ExampleMSALCertificate_Credential() {
	keyPEM, _ := os.ReadFile("testdata/example_client.key")
	certPEM, _ := os.ReadFile("testdata/example_client.crt")
	config, _ := json.Marshal(map[string]string{
		"private_key":        string(keyPEM),
		"passphrase":         "example-passphrase",
		"public_certificate": string(certPEM), // sends x5c, as MSAL Python does
	})
	var dict credential.MSALCertificate
	if err := json.Unmarshal(config, &dict); err != nil {
		log.Fatal(err)
	}
	cred, err := dict.Credential()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(assertionHeader(cred))
	fmt.Println(dict) // no key, no passphrase
	// Output:
	// alg PS256, x5t false, x5t#S256 true, x5c true
	// credential.MSALCertificate{thumbprint: "", public_certificate: true, private_key: REDACTED}
}
