package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/internal/dpop"
)

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// opaque stands for a key in a KMS or an HSM: a crypto.Signer that is
// not one of the standard library's private key types, so nothing can
// reach the private key.
type opaque struct{ s crypto.Signer }

func (o opaque) Public() crypto.PublicKey { return o.s.Public() }
func (o opaque) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, digest, opts)
}

// failing is a signer whose Sign fails, as a KMS may.
type failing struct{ crypto.Signer }

func (f failing) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("kms: access denied")
}

type keyCase struct {
	name string
	key  crypto.Signer
	alg  string // "" for the default
	want string // the algorithm signed with
	crv  string // "" for RSA
}

func keyCases(t testing.TB) []keyCase {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256, p384, p521 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P384()), ecKey(t, elliptic.P521())
	return []keyCase{
		{"P-256", p256, "", "ES256", "P-256"},
		{"P-384", p384, "", "ES384", "P-384"},
		{"P-521", p521, "", "ES512", "P-521"},
		{"RSA", testRSAKey(t), "", "PS256", ""},
		{"RSA_RS256", testRSAKey(t), "RS256", "RS256", ""},
		{"Ed25519", ed, "", "EdDSA", "Ed25519"},
		{"KMS_P-256", opaque{p256}, "", "ES256", "P-256"},
		{"KMS_P-521", opaque{p521}, "", "ES512", "P-521"},
		{"KMS_RSA_PS256", opaque{testRSAKey(t)}, "PS256", "PS256", ""},
		{"KMS_RSA_RS256", opaque{testRSAKey(t)}, "RS256", "RS256", ""},
	}
}

// decodePart decodes a base64url JSON part of a compact JWS.
func decodePart(t *testing.T, part string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProof(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	u, _ := url.Parse("https://user:pw@api.example.com:8443/v1/orders%2Fx?top=1&secret=q#frag")
	for _, tc := range keyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			s, err := dpop.New(tc.key, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			if s.Algorithm() != tc.want {
				t.Fatalf("algorithm %s, want %s", s.Algorithm(), tc.want)
			}
			jkt, err := dpop.Thumbprint(tc.key.Public())
			if err != nil || s.Thumbprint() != jkt || len(jkt) != 43 {
				t.Fatalf("thumbprint %q, Thumbprint %q, %v", s.Thumbprint(), jkt, err)
			}
			p, err := s.Proof("POST", u, now, "nonce-1", "the-access-token")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify([]byte(p), jws.WithKey(jwa.SignatureAlgorithm(tc.want), tc.key.Public())); err != nil {
				t.Fatalf("jwx does not verify the proof: %v", err)
			}
			parts := strings.Split(p, ".")
			hdr := decodePart(t, parts[0])
			if hdr["typ"] != "dpop+jwt" || hdr["alg"] != tc.want || len(hdr) != 3 {
				t.Errorf("header %v", hdr)
			}
			jwk, _ := hdr["jwk"].(map[string]any)
			want := []string{"crv", "kty", "x", "y"}
			switch {
			case tc.crv == "":
				want = []string{"e", "kty", "n"}
			case tc.crv == "Ed25519":
				want = []string{"crv", "kty", "x"}
			}
			if got := slices.Sorted(maps.Keys(jwk)); !slices.Equal(got, want) {
				t.Errorf("jwk members %v, want the public key's only: %v", got, want)
			}
			if tc.crv != "" && jwk["crv"] != tc.crv {
				t.Errorf("crv %v", jwk["crv"])
			}
			c := decodePart(t, parts[1])
			wantClaims := map[string]any{
				"htm": "POST", "htu": "https://api.example.com:8443/v1/orders%2Fx", "iat": float64(now.Unix()),
				"nonce": "nonce-1", "ath": dpop.AccessTokenHash("the-access-token"), "jti": c["jti"],
			}
			if !maps.Equal(c, wantClaims) {
				t.Errorf("claims %v\nwant %v", c, wantClaims)
			}
			if jti, _ := c["jti"].(string); len(jti) < 22 {
				t.Errorf("jti %q", jti)
			}
		})
	}
}

func TestProofOptionalClaims(t *testing.T) {
	s, err := dpop.New(ecKey(t, elliptic.P256()), "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://as.example")
	p, err := s.Proof("", u, time.Unix(1700000000, 0), "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := decodePart(t, strings.Split(p, ".")[1])
	if c["htm"] != "GET" || c["htu"] != "https://as.example/" {
		t.Errorf("claims %v", c)
	}
	for _, name := range []string{"ath", "nonce"} {
		if _, ok := c[name]; ok {
			t.Errorf("%s present without a value: %v", name, c)
		}
	}
}

func TestProofJTIsAreUnique(t *testing.T) {
	s, err := dpop.New(ecKey(t, elliptic.P256()), "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://rs.example/x")
	seen := map[string]bool{}
	for range 1000 {
		p, err := s.Proof("GET", u, time.Now(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		jti := decodePart(t, strings.Split(p, ".")[1])["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %s twice", jti)
		}
		seen[jti] = true
	}
}

func TestHTU(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://rs.example/a/b?c=d#e", "https://rs.example/a/b"},
		{"https://rs.example", "https://rs.example/"},
		{"https://rs.example/?", "https://rs.example/"},
		{"http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"},
		{"https://u:p@rs.example/x", "https://rs.example/x"},
		{"https://rs.example/a%20b/c%2Fd", "https://rs.example/a%20b/c%2Fd"},
		{"https://[::1]:443/x", "https://[::1]:443/x"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := dpop.HTU(u); got != tt.want {
			t.Errorf("HTU(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if dpop.HTU(nil) != "" {
		t.Error("HTU(nil)")
	}
}

func TestUnsupportedKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  crypto.Signer
		alg  string
		want string
	}{
		{"P-224", ecKey(t, elliptic.P224()), "", "P-224"},
		{"RSA_1024", small, "", "1024 bits"},
		{"ES256_with_RSA", testRSAKey(t), "ES256", "cannot sign ES256"},
		{"RS256_with_EC", ecKey(t, elliptic.P256()), "RS256", "cannot sign RS256"},
		{"ES384_with_P-256", ecKey(t, elliptic.P256()), "ES384", "cannot sign ES384"},
		{"nil", nil, "", "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dpop.New(tt.key, tt.alg)
			if !errors.Is(err, dpop.ErrUnsupportedKey) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrUnsupportedKey saying %q", err, tt.want)
			}
		})
	}
	if _, err := dpop.Thumbprint(ecKey(t, elliptic.P224()).Public()); !errors.Is(err, dpop.ErrUnsupportedKey) {
		t.Errorf("Thumbprint of a P-224 key: %v", err)
	}
}

func TestChoose(t *testing.T) {
	ec := ecKey(t, elliptic.P256()).Public()
	rsaPub := testRSAKey(t).Public()
	tests := []struct {
		name      string
		pub       crypto.PublicKey
		supported []string
		want      string // "" for an error
	}{
		{"ec_default", ec, nil, "ES256"},
		{"ec_listed", ec, []string{"RS256", "ES256"}, "ES256"},
		{"ec_not_listed", ec, []string{"RS256", "ES384"}, ""},
		{"rsa_default", rsaPub, nil, "PS256"},
		{"rsa_prefers_PSS", rsaPub, []string{"RS256", "PS256"}, "PS256"},
		{"rsa_RS256_only", rsaPub, []string{"ES256", "RS256"}, "RS256"},
		{"rsa_PS512_only", rsaPub, []string{"PS512"}, "PS512"},
		{"rsa_none", rsaPub, []string{"ES256"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dpop.Choose(tt.pub, tt.supported)
			if tt.want == "" {
				if !errors.Is(err, dpop.ErrUnsupportedKey) {
					t.Errorf("Choose = %q, %v; want ErrUnsupportedKey", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Choose = %q, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestSigningErrorHoldsNoSecret: a key that fails to sign (a KMS refusing)
// gives an error that names the algorithm, not the token.
func TestSigningErrorHoldsNoSecret(t *testing.T) {
	s, err := dpop.New(failing{ecKey(t, elliptic.P256())}, "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://rs.example/x")
	const token = "eyJ0eXAiOiJKV1QifQ.secret-token.sig"
	_, err = s.Proof("GET", u, time.Now(), "n", token)
	if err == nil || !strings.Contains(err.Error(), "access denied") || strings.Contains(err.Error(), token) || strings.Contains(err.Error(), dpop.AccessTokenHash(token)) {
		t.Errorf("err = %v", err)
	}
}

// TestProofsAgainstAuthtest: authtest, which verifies proofs with its own
// standard-library code, takes this package's proofs at its token
// endpoint (binding the token to Thumbprint) and at its resource, for
// every algorithm it lists.
func TestProofsAgainstAuthtest(t *testing.T) {
	srv := authtest.NewServer(t, authtest.WithDPoP())
	srv.AddClient(authtest.Client{ID: "app", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", Roles: []string{"Orders.Read.All"}})
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	tokenURL, _ := url.Parse(srv.OIDCIssuer() + "/token")
	resource, _ := url.Parse(srv.URL + "/resource/orders?top=5#x")
	for _, tc := range keyCases(t) {
		if tc.want == "EdDSA" {
			continue // authtest does not list EdDSA
		}
		t.Run(tc.name, func(t *testing.T) {
			s, err := dpop.New(tc.key, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Proof("POST", tokenURL, srv.Now(), srv.DPoPNonce(authtest.EndpointToken), "")
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", tokenURL.String(), strings.NewReader("grant_type=client_credentials&scope=api%3A%2F%2Forders%2F.default"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("app", "s3cret")
			req.Header.Set("DPoP", p)
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if code := doJSON(t, srv, req, &tok); code != 200 || tok.TokenType != "DPoP" {
				t.Fatalf("token: %d %q", code, tok.TokenType)
			}
			claims, err := srv.Verify(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != s.Thumbprint() {
				t.Errorf("cnf %v, thumbprint %s", claims["cnf"], s.Thumbprint())
			}
			p, err = s.Proof("GET", resource, srv.Now(), srv.DPoPNonce(authtest.EndpointResource), tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			req, _ = http.NewRequest("GET", resource.String(), nil)
			req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
			req.Header.Set("DPoP", p)
			var echo map[string]any
			if code := doJSON(t, srv, req, &echo); code != 200 || echo["query"] != "top=5" {
				t.Fatalf("resource: %d %v", code, echo)
			}
		})
	}
}

func doJSON(t *testing.T, srv *authtest.Server, req *http.Request, v any) int {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("%d %s %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
	}
	return resp.StatusCode
}

func BenchmarkProof(b *testing.B) {
	u, _ := url.Parse("https://rs.example/v1/orders?top=5")
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", ecKey(b, elliptic.P256())}, {"PS256", testRSAKey(b)}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := dpop.New(tc.key, "")
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Proof("GET", u, now, "nonce", "access-token"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
