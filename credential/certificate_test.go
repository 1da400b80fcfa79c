package credential_test

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/bearerhttp/bearer/credential"
)

const (
	testClientID = "6731de76-14a6-49ae-97bc-6eba6914391e"
	testAudience = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// applyCert applies cred for req and returns the assertion, checking the
// form fields around it.
func applyCert(t *testing.T, cred credential.Credential, req credential.Request) string {
	t.Helper()
	form, header := url.Values{}, http.Header{}
	if err := cred.Apply(context.Background(), req, form, header); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := form.Get("client_assertion_type"); got != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type = %q", got)
	}
	if len(form) != 2 {
		t.Errorf("form has fields %v, want client_assertion_type and client_assertion only", keysOf(form))
	}
	if len(header) != 0 {
		t.Errorf("Apply set headers %v", header)
	}
	return form.Get("client_assertion")
}

func keysOf(v url.Values) []string {
	var k []string
	for name := range v {
		k = append(k, name)
	}
	return k
}

func TestCertificateAssertion(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	claims := map[string]any{"xms_az_claim": "v", "n": 7.0}
	tests := []struct {
		name       string
		key        string
		kind       credential.AuthorityKind
		algorithms []string
		wantAlg    jwa.SignatureAlgorithm
		wantX5t    bool // SHA-1 x5t header
		wantX5tS   bool // x5t#S256 header
	}{
		{"Entra_RSA_2048_signs_PS256_with_x5t#S256", rsa2048, credential.Entra, nil, jwa.PS256, false, true},
		{"Entra_RSA_4096_signs_PS256_with_x5t#S256", rsa4096, credential.Entra, nil, jwa.PS256, false, true},
		{"Entra_ignores_discovered_algorithms", rsa2048, credential.Entra, []string{"RS256"}, jwa.PS256, false, true},
		{"ADFS_RSA_signs_RS256_with_SHA-1_x5t", rsa2048, credential.ADFS, nil, jwa.RS256, true, false},
		{"OIDC_RSA_with_no_algorithms_signs_RS256", rsa2048, credential.OIDC, nil, jwa.RS256, true, true},
		{"OIDC_RSA_prefers_PS256", rsa2048, credential.OIDC, []string{"RS256", "ES256", "PS256"}, jwa.PS256, true, true},
		{"OIDC_RSA_takes_RS256_when_no_PS256", rsa4096, credential.OIDC, []string{"ES256", "RS256", "PS512"}, jwa.RS256, true, true},
		{"OIDC_RSA_takes_RS512_when_alone", rsa2048, credential.OIDC, []string{"ES256", "RS512"}, jwa.RS512, true, true},
		{"OIDC_P-256_with_no_algorithms_signs_ES256", p256, credential.OIDC, nil, jwa.ES256, true, true},
		{"OIDC_P-256_picks_ES256_among_others", p256, credential.OIDC, []string{"RS256", "PS256", "ES384", "ES256"}, jwa.ES256, true, true},
		{"OIDC_P-384_signs_ES384", p384, credential.OIDC, []string{"ES256", "ES384", "ES512"}, jwa.ES384, true, true},
		{"OIDC_P-384_with_no_algorithms_signs_ES384", p384, credential.OIDC, nil, jwa.ES384, true, true},
		{"OIDC_P-521_signs_ES512", p521, credential.OIDC, []string{"ES512"}, jwa.ES512, true, true},
		{"OIDC_P-521_with_no_algorithms_signs_ES512", p521, credential.OIDC, nil, jwa.ES512, true, true},
		{"OIDC_Ed25519_signs_EdDSA", ed, credential.OIDC, []string{"RS256", "EdDSA"}, jwa.EdDSA, true, true},
		{"OIDC_Ed25519_with_no_algorithms_signs_EdDSA", ed, credential.OIDC, nil, jwa.EdDSA, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey(t, tt.key)
			leaf := selfSigned(t, key)
			cred, err := credential.Certificate([]*x509.Certificate{leaf}, key)
			if err != nil {
				t.Fatal(err)
			}
			tok := applyCert(t, cred, credential.Request{
				ClientID: testClientID, Audience: testAudience, TokenEndpoint: "https://westus.login.microsoft.com/x/oauth2/v2.0/token",
				Kind: tt.kind, Algorithms: tt.algorithms, ClientClaims: claims, Now: now,
			})
			header, got := jwtParts(t, tok)

			wantHeader := map[string]any{"alg": string(tt.wantAlg), "typ": "JWT"}
			if tt.wantX5t {
				wantHeader["x5t"] = b64urlSHA1(leaf.Raw)
			}
			if tt.wantX5tS {
				wantHeader["x5t#S256"] = b64urlSHA256(leaf.Raw)
			}
			if len(header) != len(wantHeader) {
				t.Errorf("header = %v, want exactly %v", header, wantHeader)
			}
			for k, v := range wantHeader {
				if header[k] != v {
					t.Errorf("header %s = %v, want %v", k, header[k], v)
				}
			}

			wantClaims := map[string]any{
				"aud": testAudience, "iss": testClientID, "sub": testClientID,
				"iat": json.Number(itoa(now.Unix())), "nbf": json.Number(itoa(now.Unix())),
				"exp":          json.Number(itoa(now.Add(10 * time.Minute).Unix())),
				"xms_az_claim": "v", "n": json.Number("7"),
			}
			for k, v := range wantClaims {
				if got[k] != v {
					t.Errorf("claim %s = %#v, want %#v", k, got[k], v)
				}
			}
			if jti, _ := got["jti"].(string); !uuidV4.MatchString(jti) {
				t.Errorf("jti = %q, want a version 4 UUID", got["jti"])
			}
			if len(got) != len(wantClaims)+1 {
				t.Errorf("claims = %v, want exactly %v and jti", got, wantClaims)
			}

			// The signature verifies with the certificate's public key
			// under the advertised algorithm, and jwt validation passes
			// at the signing time.
			if _, err := jws.Verify([]byte(tok), jws.WithKey(tt.wantAlg, leaf.PublicKey)); err != nil {
				t.Errorf("signature does not verify with the certificate's key: %v", err)
			}
			if _, err := jwt.Parse([]byte(tok), jwt.WithKey(tt.wantAlg, leaf.PublicKey),
				jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })),
				jwt.WithAudience(testAudience), jwt.WithIssuer(testClientID), jwt.WithSubject(testClientID),
				jwt.WithRequiredClaim("jti"), jwt.WithRequiredClaim("nbf"), jwt.WithRequiredClaim("exp")); err != nil {
				t.Errorf("jwt validation: %v", err)
			}
			other := freshKey(t, tt.key)
			if _, err := jws.Verify([]byte(tok), jws.WithKey(tt.wantAlg, other.Public())); err == nil {
				t.Error("signature verifies with an unrelated key")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestCertificateAudClaimIsAString(t *testing.T) {
	// Entra and RFC 7523 authorities compare aud to their token endpoint;
	// a single-valued aud is sent as a string, not an array.
	key := testKey(t, rsa2048)
	cred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, key)}, key)
	if err != nil {
		t.Fatal(err)
	}
	tok := applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience})
	_, claims := jwtParts(t, tok)
	if _, ok := claims["aud"].(string); !ok {
		t.Errorf("aud = %#v, want a JSON string", claims["aud"])
	}
}

func TestCertificateNowDefaultsToCurrentTime(t *testing.T) {
	key := testKey(t, p256)
	cred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, key)}, key)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	tok := applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.OIDC})
	after := time.Now().Unix()
	_, claims := jwtParts(t, tok)
	iat, _ := claims["iat"].(json.Number).Int64()
	if iat < before || iat > after {
		t.Errorf("iat = %d, want between %d and %d", iat, before, after)
	}
}

func TestCertificateEachApplySignsAFreshAssertion(t *testing.T) {
	for _, kind := range []string{rsa2048, p256} {
		t.Run(strings.ReplaceAll(kind, " ", "_"), func(t *testing.T) {
			key := testKey(t, kind)
			leaf := selfSigned(t, key)
			cred, err := credential.Certificate([]*x509.Certificate{leaf}, key)
			if err != nil {
				t.Fatal(err)
			}
			req := credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.OIDC, Now: time.Now()}
			seen := map[string]bool{}
			sigs := map[string]bool{}
			for range 5 {
				tok := applyCert(t, cred, req) // the same Now every time
				_, claims := jwtParts(t, tok)
				jti := claims["jti"].(string)
				if seen[jti] {
					t.Errorf("jti %s repeated", jti)
				}
				seen[jti] = true
				sig := tok[strings.LastIndex(tok, ".")+1:]
				if sigs[sig] {
					t.Error("signature repeated")
				}
				sigs[sig] = true
				alg := jwa.RS256
				if kind == p256 {
					alg = jwa.ES256
				}
				if _, err := jws.Verify([]byte(tok), jws.WithKey(alg, leaf.PublicKey)); err != nil {
					t.Errorf("assertion does not verify: %v", err)
				}
			}
		})
	}
}

func TestCertificateX5C(t *testing.T) {
	p := newPKI(t, rsa2048)
	tests := []struct {
		name  string
		certs []*x509.Certificate
		want  []*x509.Certificate
	}{
		{"chain_in_order", []*x509.Certificate{p.leaf, p.inter, p.root}, []*x509.Certificate{p.leaf, p.inter, p.root}},
		{"chain_in_reverse", []*x509.Certificate{p.root, p.inter, p.leaf}, []*x509.Certificate{p.leaf, p.inter, p.root}},
		{"scrambled_with_an_unrelated_certificate", []*x509.Certificate{p.unrelated, p.root, p.leaf, p.inter}, []*x509.Certificate{p.leaf, p.inter, p.root}},
		{"leaf_and_root_without_intermediate", []*x509.Certificate{p.root, p.leaf}, []*x509.Certificate{p.leaf}},
		{"leaf_only", []*x509.Certificate{p.leaf}, []*x509.Certificate{p.leaf}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := credential.Certificate(tt.certs, p.key, credential.WithX5C())
			if err != nil {
				t.Fatal(err)
			}
			tok := applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.Entra})
			header, _ := jwtParts(t, tok)
			x5c, ok := header["x5c"].([]any)
			if !ok {
				t.Fatalf("x5c = %#v, want an array", header["x5c"])
			}
			if len(x5c) != len(tt.want) {
				t.Fatalf("x5c has %d certificates, want %d", len(x5c), len(tt.want))
			}
			for i, v := range x5c {
				s, _ := v.(string)
				der, err := base64.StdEncoding.DecodeString(s) // standard alphabet, padded
				if err != nil {
					t.Fatalf("x5c[%d] is not standard base64: %v", i, err)
				}
				if string(der) != string(tt.want[i].Raw) {
					t.Errorf("x5c[%d] is %q, want %q", i, certCN(der), tt.want[i].Subject.CommonName)
				}
			}
			if header["x5t#S256"] != b64urlSHA256(p.leaf.Raw) {
				t.Errorf("x5t#S256 is not the leaf's")
			}
			if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.PS256, p.leaf.PublicKey)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("absent_without_the_option", func(t *testing.T) {
		cred, err := credential.Certificate([]*x509.Certificate{p.root, p.inter, p.leaf}, p.key)
		if err != nil {
			t.Fatal(err)
		}
		header, _ := jwtParts(t, applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience}))
		if _, ok := header["x5c"]; ok {
			t.Error("x5c sent without WithX5C")
		}
	})
}

func certCN(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "not a certificate"
	}
	return c.Subject.CommonName
}

func TestCertificateKeyID(t *testing.T) {
	key := testKey(t, p256)
	cred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, key)}, key, credential.WithKeyID("key-2024"))
	if err != nil {
		t.Fatal(err)
	}
	header, _ := jwtParts(t, applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.OIDC}))
	if header["kid"] != "key-2024" {
		t.Errorf("kid = %v, want key-2024", header["kid"])
	}
}

func TestCertificateOpaqueSigner(t *testing.T) {
	// A crypto.Signer that is not a *rsa.PrivateKey or *ecdsa.PrivateKey
	// (an HSM, a KMS) signs through its Sign method.
	for _, tt := range []struct {
		key  string
		kind credential.AuthorityKind
		alg  jwa.SignatureAlgorithm
	}{
		{rsa2048, credential.Entra, jwa.PS256},
		{rsa2048, credential.ADFS, jwa.RS256},
		{p256, credential.OIDC, jwa.ES256},
		{p384, credential.OIDC, jwa.ES384},
	} {
		t.Run(strings.ReplaceAll(tt.key, " ", "_")+"_"+tt.kind.String(), func(t *testing.T) {
			key := testKey(t, tt.key)
			leaf := selfSigned(t, key)
			cred, err := credential.Certificate([]*x509.Certificate{leaf}, opaqueSigner{key})
			if err != nil {
				t.Fatal(err)
			}
			tok := applyCert(t, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: tt.kind})
			if _, err := jws.Verify([]byte(tok), jws.WithKey(tt.alg, leaf.PublicKey)); err != nil {
				t.Errorf("does not verify: %v", err)
			}
		})
	}
}

// x25519Signer has a public key no JWS algorithm signs with.
type x25519Signer struct{ pub *ecdh.PublicKey }

func (s x25519Signer) Public() crypto.PublicKey { return s.pub }
func (s x25519Signer) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("cannot sign")
}

func TestCertificateConstructionErrors(t *testing.T) {
	key := testKey(t, rsa2048)
	leaf := selfSigned(t, key)
	now := time.Now()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224Key := testKey(t, p224)
	xk, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		certs []*x509.Certificate
		key   crypto.Signer
		want  error
	}{
		{"no_certificates", nil, key, credential.ErrNoCertificate},
		{"empty_certificate_list", []*x509.Certificate{}, key, credential.ErrNoCertificate},
		{"nil_key", []*x509.Certificate{leaf}, nil, credential.ErrNoPrivateKey},
		{"typed_nil_key", []*x509.Certificate{leaf}, (*rsa.PrivateKey)(nil), credential.ErrNoPrivateKey},
		{"key_matches_no_certificate", []*x509.Certificate{leaf}, freshKey(t, rsa2048), credential.ErrKeyMismatch},
		{"key_matches_only_a_nil_entry", []*x509.Certificate{nil}, key, credential.ErrKeyMismatch},
		{"EC_key_with_RSA_certificate", []*x509.Certificate{leaf}, testKey(t, p256), credential.ErrKeyMismatch},
		{"certificate_expired", []*x509.Certificate{issue(t, certSpec{cn: "old", notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)}, key, nil, nil)}, key, credential.ErrCertificateExpired},
		{"certificate_not_yet_valid", []*x509.Certificate{issue(t, certSpec{cn: "future", notBefore: now.Add(time.Hour), notAfter: now.Add(48 * time.Hour)}, key, nil, nil)}, key, credential.ErrCertificateNotYetValid},
		{"RSA_1024_is_weak", []*x509.Certificate{selfSigned(t, weak)}, weak, credential.ErrWeakKey},
		{"P-224_is_unsupported", []*x509.Certificate{selfSigned(t, p224Key)}, p224Key, credential.ErrUnsupportedKey},
		{"X25519_is_unsupported", []*x509.Certificate{leaf}, x25519Signer{xk.PublicKey()}, credential.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := credential.Certificate(tt.certs, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if cred != nil {
				t.Error("a credential returned with the error")
			}
			if tt.key != nil && tt.name != "typed_nil_key" {
				if _, ok := tt.key.(x25519Signer); !ok {
					assertNoLeak(t, "error", err.Error(), leakMarkers(tt.key)...)
				}
			}
		})
	}
}

func TestCertificateApplyErrors(t *testing.T) {
	rsaKey, ecKey, edKey := testKey(t, rsa2048), testKey(t, p256), testKey(t, ed)
	now := time.Now()
	shortLived := issue(t, certSpec{cn: "short", notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}, rsaKey, nil, nil)
	mk := func(key crypto.Signer, c *x509.Certificate) credential.Credential {
		if c == nil {
			c = selfSigned(t, key)
		}
		cred, err := credential.Certificate([]*x509.Certificate{c}, key)
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	rsaCred, ecCred, edCred, shortCred := mk(rsaKey, nil), mk(ecKey, nil), mk(edKey, nil), mk(rsaKey, shortLived)
	good := credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.Entra}
	with := func(f func(*credential.Request)) credential.Request { r := good; f(&r); return r }
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		cred credential.Credential
		ctx  context.Context
		req  credential.Request
		want error
	}{
		{"Entra_with_EC_key", ecCred, nil, good, credential.ErrUnsupportedKey},
		{"Entra_with_Ed25519_key", edCred, nil, good, credential.ErrUnsupportedKey},
		{"ADFS_with_EC_key", ecCred, nil, with(func(r *credential.Request) { r.Kind = credential.ADFS }), credential.ErrUnsupportedKey},
		{"OIDC_RSA_key_and_only_EC_algorithms", rsaCred, nil, with(func(r *credential.Request) { r.Kind, r.Algorithms = credential.OIDC, []string{"ES256", "EdDSA"} }), credential.ErrUnsupportedKey},
		{"OIDC_P-256_key_and_only_ES384", ecCred, nil, with(func(r *credential.Request) { r.Kind, r.Algorithms = credential.OIDC, []string{"ES384", "RS256"} }), credential.ErrUnsupportedKey},
		{"OIDC_algorithm_names_are_case_sensitive", rsaCred, nil, with(func(r *credential.Request) { r.Kind, r.Algorithms = credential.OIDC, []string{"rs256"} }), credential.ErrUnsupportedKey},
		{"unknown_authority_kind", rsaCred, nil, with(func(r *credential.Request) { r.Kind = credential.AuthorityKind(9) }), credential.ErrIncompleteRequest},
		{"no_client_ID", rsaCred, nil, with(func(r *credential.Request) { r.ClientID = "" }), credential.ErrIncompleteRequest},
		{"no_audience", rsaCred, nil, with(func(r *credential.Request) { r.Audience = "" }), credential.ErrIncompleteRequest},
		{"certificate_expired_by_request_time", shortCred, nil, with(func(r *credential.Request) { r.Now = now.Add(2 * time.Hour) }), credential.ErrCertificateExpired},
		{"certificate_not_yet_valid_at_request_time", shortCred, nil, with(func(r *credential.Request) { r.Now = now.Add(-2 * time.Hour) }), credential.ErrCertificateNotYetValid},
		{"client_claim_replaces_aud", rsaCred, nil, with(func(r *credential.Request) { r.ClientClaims = map[string]any{"aud": "x"} }), credential.ErrReservedClaim},
		{"client_claim_replaces_exp", rsaCred, nil, with(func(r *credential.Request) { r.ClientClaims = map[string]any{"ok": 1, "exp": 1} }), credential.ErrReservedClaim},
		{"client_claim_that_is_not_JSON", rsaCred, nil, with(func(r *credential.Request) { r.ClientClaims = map[string]any{"c": make(chan int)} }), nil},
		{"canceled_context", rsaCred, canceled, good, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			form, header := url.Values{}, http.Header{}
			err := tt.cred.Apply(ctx, tt.req, form, header)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if len(form) != 0 || len(header) != 0 {
				t.Errorf("failed Apply changed the request: form %v, header %v", form, header)
			}
			for _, k := range []crypto.Signer{rsaKey, ecKey, edKey} {
				assertNoLeak(t, "error", err.Error(), leakMarkers(k)...)
			}
			t.Log(err)
		})
	}
}

func TestCertificateAtTheEdgesOfValidity(t *testing.T) {
	key := testKey(t, rsa2048)
	now := time.Now().Truncate(time.Second)
	c := issue(t, certSpec{cn: "edges", notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}, key, nil, nil)
	cred, err := credential.Certificate([]*x509.Certificate{c}, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"at_NotBefore", c.NotBefore, nil},
		{"a_second_before_NotBefore", c.NotBefore.Add(-time.Second), credential.ErrCertificateNotYetValid},
		{"at_NotAfter", c.NotAfter, nil},
		{"a_second_after_NotAfter", c.NotAfter.Add(time.Second), credential.ErrCertificateExpired},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := cred.Apply(context.Background(), credential.Request{ClientID: testClientID, Audience: testAudience, Now: tt.at}, url.Values{}, http.Header{})
			if !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckClientClaims(t *testing.T) {
	for _, name := range []string{"aud", "iss", "sub", "jti", "exp", "nbf", "iat"} {
		if err := credential.CheckClientClaims(map[string]any{name: "x"}); !errors.Is(err, credential.ErrReservedClaim) || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("claim %s: err = %v, want ErrReservedClaim naming it", name, err)
		}
	}
	if err := credential.CheckClientClaims(map[string]any{"client_ip": "10.0.0.1", "xms_cc": []string{"cp1"}, "AUD": 1}); err != nil {
		t.Errorf("ordinary claims rejected: %v", err)
	}
	if err := credential.CheckClientClaims(nil); err != nil {
		t.Errorf("nil claims rejected: %v", err)
	}
}

func TestCertificateValidate(t *testing.T) {
	key := testKey(t, p256)
	cred, err := credential.Certificate([]*x509.Certificate{selfSigned(t, key)}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := credential.Validate(cred); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

// TestCertificateAssertionOverHTTP sends the form Apply fills to a
// loopback token endpoint that checks it on its own: the fields as a
// server parses them, and the assertion verified with the registered
// certificate's public key.
func TestCertificateAssertionOverHTTP(t *testing.T) {
	p := newPKI(t, rsa2048)
	verify := func(r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			return err
		}
		if r.PostForm.Get("client_assertion_type") != credential.JWTBearer {
			return errors.New("wrong client_assertion_type")
		}
		tok := []byte(r.PostForm.Get("client_assertion"))
		msg, err := jws.Parse(tok)
		if err != nil {
			return err
		}
		h := msg.Signatures()[0].ProtectedHeaders()
		if h.X509CertThumbprintS256() != b64urlSHA256(p.leaf.Raw) {
			return errors.New("x5t#S256 is not the registered certificate's")
		}
		if h.Algorithm() != jwa.PS256 {
			return errors.New("not PS256")
		}
		_, err = jwt.Parse(tok, jwt.WithKey(jwa.PS256, p.leaf.PublicKey), jwt.WithAudience(testAudience),
			jwt.WithIssuer(testClientID), jwt.WithSubject(testClientID), jwt.WithAcceptableSkew(time.Minute))
		return err
	}
	srv := newFormServer(t, verify)
	cred, err := credential.Certificate([]*x509.Certificate{p.leaf, p.inter}, p.key, credential.WithX5C())
	if err != nil {
		t.Fatal(err)
	}
	postForm(t, srv, cred, credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.Entra})
}

// TestCertificateConcurrentApply applies one credential from several
// goroutines (package flow may); run with -race.
func TestCertificateConcurrentApply(t *testing.T) {
	key := testKey(t, p256)
	leaf := selfSigned(t, key)
	cred, err := credential.Certificate([]*x509.Certificate{leaf}, key, credential.WithX5C())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	jtis := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				form := url.Values{}
				if err := cred.Apply(context.Background(), credential.Request{ClientID: testClientID, Audience: testAudience, Kind: credential.OIDC}, form, http.Header{}); err != nil {
					t.Error(err)
					return
				}
				tok := form.Get("client_assertion")
				if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.ES256, leaf.PublicKey)); err != nil {
					t.Error(err)
				}
				msg, err := jws.Parse([]byte(tok))
				if err != nil {
					t.Error(err)
					return
				}
				var c struct{ JTI string }
				if err := json.Unmarshal(msg.Payload(), &c); err != nil {
					t.Error(err)
				}
				mu.Lock()
				if jtis[c.JTI] {
					t.Errorf("jti %s repeated", c.JTI)
				}
				jtis[c.JTI] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(jtis) != 160 {
		t.Errorf("%d distinct jti for 160 assertions", len(jtis))
	}
}
