package authtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// Test fixtures: one confidential client, one public client, one user.
const (
	appID      = "11111111-aaaa-4bbb-8ccc-000000000001"
	appSecret  = "app-secret-VALUE-123"
	publicID   = "22222222-aaaa-4bbb-8ccc-000000000002"
	aliceName  = "alice@contoso.com"
	alicePass  = "alice-PASSWORD-456"
	bobName    = "bob@contoso.com"
	bobPass    = "bob-PASSWORD-789"
	apiAud     = "api://orders"
	contosoTID = "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
)

// newServer starts a plain server with the fixtures registered.
func newServer(t *testing.T, opts ...authtest.Option) *authtest.Server {
	t.Helper()
	srv := authtest.NewServer(t, opts...)
	register(srv)
	return srv
}

func register(srv *authtest.Server) {
	srv.AddClient(authtest.Client{ID: appID, Secret: appSecret, RedirectURIs: []string{"https://app.example/callback", "http://localhost/cb"}})
	srv.AddClient(authtest.Client{ID: publicID, Public: true, FamilyID: "1"})
	srv.AddUser(authtest.User{Username: aliceName, Password: alicePass, TenantID: contosoTID})
	srv.AddUser(authtest.User{Username: bobName, Password: bobPass, TenantID: contosoTID, MFA: true})
	srv.AddAPI(authtest.API{Audience: apiAud, Scopes: []string{"Orders.Read", "Orders.Write"}, Roles: []string{"Orders.Read.All", "Orders.Admin"}})
}

// response is a decoded JSON response.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

func (r response) num(k string) float64 { n, _ := r.body[k].(float64); return n }

// codes returns error_codes.
func (r response) codes() []int {
	var out []int
	l, _ := r.body["error_codes"].([]any)
	for _, c := range l {
		f, _ := c.(float64)
		out = append(out, int(f))
	}
	return out
}

// wantError fails the test unless r is an error response with status,
// error and (when aadsts is not 0) that AADSTS code first in error_codes
// and at the start of error_description.
func (r response) wantError(t *testing.T, status int, code string, aadsts int) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %q, want %d %q; body %s", r.status, r.str("error"), status, code, r.raw)
	}
	if aadsts == 0 {
		return
	}
	if c := r.codes(); len(c) == 0 || c[0] != aadsts {
		t.Fatalf("error_codes = %v, want [%d]; body %s", c, aadsts, r.raw)
	}
	if !strings.HasPrefix(r.str("error_description"), "AADSTS"+strconv.Itoa(aadsts)+": ") {
		t.Fatalf("error_description = %q, want prefix AADSTS%d", r.str("error_description"), aadsts)
	}
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.body); err != nil {
			t.Fatalf("response is not a JSON object: %v: %s", err, b)
		}
	}
	return r
}

func post(t *testing.T, srv *authtest.Server, u string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, srv.Client(), req)
}

func get(t *testing.T, srv *authtest.Server, u string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, noRedirect(srv.Client()), req)
}

func noRedirect(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func tokenURL(srv *authtest.Server, tenant string) string {
	return srv.Authority(tenant) + "/oauth2/v2.0/token"
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// passwordToken gets tokens for alice with the password grant.
func passwordToken(t *testing.T, srv *authtest.Server, clientID, scope string, extra ...string) response {
	t.Helper()
	f := form("grant_type", "password", "client_id", clientID, "username", aliceName, "password", alicePass, "scope", scope)
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	if clientID == appID {
		f.Set("client_secret", appSecret)
	}
	r := post(t, srv, tokenURL(srv, contosoTID), f)
	if r.status != http.StatusOK {
		t.Fatalf("password grant: %d %s", r.status, r.raw)
	}
	return r
}

// appToken gets an app-only token with the client's secret.
func appToken(t *testing.T, srv *authtest.Server, scope string, extra ...string) response {
	t.Helper()
	f := form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", scope)
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	r := post(t, srv, tokenURL(srv, contosoTID), f)
	if r.status != http.StatusOK {
		t.Fatalf("client credentials: %d %s", r.status, r.raw)
	}
	return r
}

// callResource calls the resource with a bearer token.
func callResource(t *testing.T, srv *authtest.Server, method, u, tok, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(t, srv.Client(), req)
}

// Certificates and assertions, signed here with the standard library
// (not with the package under test, not with jwx).

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
	return rsaKey
}

func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "authtest client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
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

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func x5t(c *x509.Certificate) string {
	h := sha1.Sum(c.Raw)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func x5tS256(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// signJWS signs header and claims with key under alg.
func signJWS(t testing.TB, key crypto.Signer, alg string, header, claims map[string]any) string {
	t.Helper()
	header["alg"] = alg
	if _, ok := header["typ"]; !ok {
		header["typ"] = "JWT"
	}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	var h crypto.Hash
	switch alg[2:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	var d []byte
	switch h {
	case crypto.SHA256:
		s := sha256.Sum256([]byte(input))
		d = s[:]
	case crypto.SHA384:
		s := sha512.Sum384([]byte(input))
		d = s[:]
	default:
		s := sha512.Sum512([]byte(input))
		d = s[:]
	}
	var sig []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg[0] == 'P' {
			sig, err = rsa.SignPSS(rand.Reader, k, h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, d)
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, d)
		size := (k.Curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// assertionClaims are valid client assertion claims for aud at now.
func assertionClaims(clientID, aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID, "sub": clientID, "aud": aud,
		"jti": randomID(), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// containsAny reports whether s holds one of the needles.
func containsAny(s string, needles ...string) string {
	for _, n := range needles {
		if strings.Contains(s, n) {
			return n
		}
	}
	return ""
}

func decodeClientInfo(t *testing.T, s string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("client_info is not unpadded base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
