package flow

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/credential"
)

// testdata/jwks holds key sets shaped like what authorities publish
// (generated keys and certificates): Entra's (kid = x5t, x5c, issuer),
// Google's (alg, hex kid, no certificate), Keycloak's (an RS256 signing
// key with x5t#S256, an RSA-OAEP encryption key, an ES256 key).

// realKeySets returns the key sets of testdata/jwks by file name.
func realKeySets(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "jwks", "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no key sets in testdata/jwks: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return out
}

// brokenKeySets are key set documents a web API must not choke on.
var brokenKeySets = map[string]string{
	"empty":               ``,
	"html":                `<html><body>Service Unavailable</body></html>`,
	"null":                `null`,
	"array":               `[]`,
	"keys_object":         `{"keys":{}}`,
	"keys_null":           `{"keys":null}`,
	"truncated":           `{"keys":[{"kty":"RSA","kid":"k1","n":"0vx7agoebGcQ`,
	"rsa_without_e":       `{"keys":[{"kty":"RSA","kid":"k1","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}]}`,
	"rsa_n_not_base64":    `{"keys":[{"kty":"RSA","kid":"k1","n":"***","e":"AQAB"}]}`,
	"rsa_tiny_modulus":    `{"keys":[{"kty":"RSA","kid":"k1","n":"AQ","e":"AQAB"}]}`,
	"rsa_zero_exponent":   `{"keys":[{"kty":"RSA","kid":"k1","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AA"}]}`,
	"unknown_kty":         `{"keys":[{"kty":"XYZ","kid":"k1"}]}`,
	"ec_bad_curve":        `{"keys":[{"kty":"EC","kid":"k1","crv":"P-999","x":"AA","y":"AA"}]}`,
	"oct_key":             `{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0"}]}`,
	"x5c_not_certificate": `{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB","x5c":["bm90IGEgY2VydA=="]}]}`,
	"kid_number":          `{"keys":[{"kty":"RSA","kid":1,"n":"AQAB","e":"AQAB"}]}`,
}

// FuzzJWKS reads a key set document as a web API does (jwk.Parse, then the
// RS256 signing key of a kid) and checks that a key it would verify with
// is an RSA key that can verify, refusing a token without panicking.
func FuzzJWKS(f *testing.F) {
	for _, doc := range realKeySets(f) {
		for _, kid := range kidsOf(doc) {
			f.Add(doc, kid)
		}
	}
	for _, doc := range brokenKeySets {
		f.Add([]byte(doc), "k1")
	}
	f.Fuzz(func(t *testing.T, doc []byte, kid string) {
		set, err := jwk.Parse(doc)
		if err != nil {
			return
		}
		key, ok := rsaKey(set, kid)
		if !ok {
			return
		}
		if key.KeyType() != jwa.RSA {
			t.Fatalf("rsaKey returned a %s key", key.KeyType())
		}
		var pub rsa.PublicKey
		if err := key.Raw(&pub); err != nil {
			return // jws.Verify refuses such a key too
		}
		token := "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4In0." + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
		if _, err := jws.Verify([]byte(token), jws.WithKey(jwa.RS256, key)); err == nil {
			t.Fatalf("a zero signature verified with key %v", key)
		}
	})
}

// kidsOf returns the kid of every key of a key set document.
func kidsOf(doc []byte) []string {
	set, err := jwk.Parse(doc)
	if err != nil {
		return nil
	}
	var kids []string
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		kids = append(kids, k.KeyID())
	}
	return kids
}

// TestKeySetDocuments: a web API whose authority publishes a key set
// answers a token naming one of its RS256 signing keys by checking the
// signature (401: the test's signature is wrong), a key set that cannot
// be read with 503, and a kid that names no RS256 signing key with 401
// saying so; never 200, never a panic.
func TestKeySetDocuments(t *testing.T) {
	type tc struct {
		name, doc, kid string
		status         int
		says           string
	}
	var cases []tc
	for name, doc := range realKeySets(t) {
		for _, kid := range kidsOf([]byte(doc)) {
			says := "signature does not verify"
			if !strings.Contains(name, "entra") && !strings.Contains(name, "google") && kid != "Zt3kU8f0Yw2m9Qe1" {
				says = "not one of the authority's published keys" // Keycloak's encryption and EC keys
			}
			cases = append(cases, tc{name + "/" + kid, string(doc), kid, 401, says})
		}
		cases = append(cases, tc{name + "/unknown_kid", string(doc), "no-such-key", 401, "not one of the authority's published keys"})
	}
	for name, doc := range brokenKeySets {
		status, says := 503, ""
		if set, err := jwk.Parse([]byte(doc)); err == nil && set != nil {
			status = 401 // readable: k1 is unusable or its (broken) key verifies nothing
		}
		cases = append(cases, tc{"broken/" + name, doc, "k1", status, says})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t)
			s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 200, metadataDoc(s.URL+"/realm", s.URL+"/realm"))
			})
			s.handle("/realm/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, c.doc) })
			app := mustConfidential(t, "api-id", credential.Secret("s"), WithOIDCAuthority(s.URL+"/realm"))
			h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Error("the request reached the handler")
			}))
			header := fmt.Sprintf(`{"alg":"RS256","kid":%q,"typ":"JWT"}`, c.kid)
			token := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." +
				base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"x","aud":"api-id","exp":9999999999}`)) + "." +
				base64.RawURLEncoding.EncodeToString(make([]byte, 256))
			r := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status = %d, want %d; %s %s", w.Code, c.status, w.Header().Get("WWW-Authenticate"), w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); c.says != "" && !strings.Contains(got, c.says) {
				t.Errorf("WWW-Authenticate = %q, want it to say %q", got, c.says)
			}
		})
	}
}
