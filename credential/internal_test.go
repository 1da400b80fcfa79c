package credential

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// FuzzAssertionExpiry feeds the unverified JWT reader AssertionFile uses.
// It must not panic; a failure wraps ErrMalformedAssertion; an exp it
// returns is within the NumericDate range it accepts.
func FuzzAssertionExpiry(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"RS256","typ":"JWT"}`))
	for _, claims := range []string{
		`{"exp":1900000000,"iss":"x"}`, `{"exp":1.5}`, `{"exp":"1"}`, `{"exp":null}`, `{}`, `[]`, `null`,
		`{"exp":1e12}`, `{"exp":-1}`, `{"exp":1900000000,"exp":2}`, `{"exp":123456789012345678901234567890}`,
	} {
		f.Add(h + "." + enc([]byte(claims)) + ".c2ln")
	}
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")
	f.Add("eyJ9.eyJ9.")
	f.Fuzz(func(t *testing.T, tok string) {
		exp, ok, err := assertionExpiry(tok)
		if err != nil {
			if !errors.Is(err, ErrMalformedAssertion) {
				t.Errorf("error does not wrap ErrMalformedAssertion: %v", err)
			}
			if ok || !exp.IsZero() {
				t.Error("an exp returned with an error")
			}
			return
		}
		if !ok {
			if !exp.IsZero() {
				t.Error("an exp returned with ok false")
			}
			return
		}
		if exp.Before(time.Unix(0, 0)) || exp.After(time.Unix(maxNumericDate+1, 0)) {
			t.Errorf("exp %v is out of range", exp)
		}
	})
}

func TestAssertionExpiryKeepsTheTokenOutOfErrors(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, tok := range []string{
		"secret-opaque-token-value",
		enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(`{"exp":"secret-in-claim"}`)) + ".sig",
		enc([]byte(`not-json-secret-header`)) + ".x.y",
	} {
		_, _, err := assertionExpiry(tok)
		if err == nil {
			t.Fatalf("%q accepted", tok)
		}
		for _, s := range append(strings.Split(tok, "."), "secret") {
			if len(s) > 3 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q quotes %q", err, s)
			}
		}
	}
}

// TestCertificateValidateAfterExpiry checks that Validate reports a
// certificate that expired after the credential was made.
func TestCertificateValidateAfterExpiry(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(notBefore, notAfter time.Time) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "v"}, NotBefore: notBefore, NotAfter: notAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	cred, err := Certificate([]*x509.Certificate{mk(now.Add(-time.Hour), now.Add(time.Hour))}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(cred); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	// The certificate's time passes: swap in one that has expired.
	cred.(*certCredential).cert = mk(now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err := Validate(cred); !errors.Is(err, ErrCertificateExpired) {
		t.Errorf("Validate = %v, want ErrCertificateExpired", err)
	}
}

func TestOrderChainStopsAtLoops(t *testing.T) {
	// Two certificates that name each other as issuer must not loop.
	a := &x509.Certificate{RawSubject: []byte("A"), RawIssuer: []byte("B"), PublicKey: "a"}
	b := &x509.Certificate{RawSubject: []byte("B"), RawIssuer: []byte("A"), PublicKey: "b"}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a.PublicKey = key.Public()
	chain, rest, ok := orderChain([]*x509.Certificate{b, a}, key.Public())
	if !ok || len(chain) != 2 || chain[0] != a || chain[1] != b || len(rest) != 0 {
		t.Errorf("chain %v rest %v ok %v", chain, rest, ok)
	}
}
