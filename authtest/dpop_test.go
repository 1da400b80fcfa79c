package authtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// DPoP proofs are built here with the standard library (signJWS), not
// with the package under test nor with jwx.

// proofKey is a client's DPoP key: its signer, algorithm, public JWK and
// RFC 7638 thumbprint.
type proofKey struct {
	key crypto.Signer
	alg string
	jwk map[string]any
	jkt string
}

func newProofKey(t testing.TB, key crypto.Signer, alg string) *proofKey {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	var jwk map[string]any
	var members string
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		x, y := make([]byte, size), make([]byte, size)
		pub.X.FillBytes(x)
		pub.Y.FillBytes(y)
		crv := pub.Curve.Params().Name
		jwk = map[string]any{"kty": "EC", "crv": crv, "x": enc(x), "y": enc(y)}
		members = `{"crv":"` + crv + `","kty":"EC","x":"` + enc(x) + `","y":"` + enc(y) + `"}`
	case *rsa.PublicKey:
		e := big.NewInt(int64(pub.E)).Bytes()
		jwk = map[string]any{"kty": "RSA", "n": enc(pub.N.Bytes()), "e": enc(e)}
		members = `{"e":"` + enc(e) + `","kty":"RSA","n":"` + enc(pub.N.Bytes()) + `"}`
	default:
		t.Fatalf("key type %T", pub)
	}
	h := sha256.Sum256([]byte(members))
	return &proofKey{key: key, alg: alg, jwk: jwk, jkt: enc(h[:])}
}

// proof signs a DPoP proof for method and htu at iat; extra claims are
// added (ath, nonce…), and a nil value removes a claim.
func (k *proofKey) proof(t testing.TB, method, htu string, iat time.Time, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"jti": randomID(), "htm": method, "htu": htu, "iat": iat.Unix()}
	for c, v := range extra {
		if v == nil {
			delete(claims, c)
			continue
		}
		claims[c] = v
	}
	return signJWS(t, k.key, k.alg, map[string]any{"typ": "dpop+jwt", "jwk": k.jwk}, claims)
}

func ath(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// dpopTokenRequest asks the OIDC shape for an app token with the client's
// secret (HTTP Basic), with the DPoP headers given.
func dpopTokenRequest(t *testing.T, srv *authtest.Server, proofs ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.OIDCIssuer()+"/token",
		strings.NewReader(form("grant_type", "client_credentials", "scope", apiAud+"/.default").Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(appID, appSecret)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return do(t, srv.Client(), req)
}

// dpopResource calls the resource with scheme, token and DPoP headers.
func dpopResource(t *testing.T, srv *authtest.Server, method, u, scheme, tok string, proofs ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", scheme+" "+tok)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return do(t, srv.Client(), req)
}

// dpopChallenge parses the DPoP challenge of a 401.
func dpopChallenge(t *testing.T, r response) map[string]string {
	t.Helper()
	h := r.header.Get("WWW-Authenticate")
	if r.status != http.StatusUnauthorized || !strings.HasPrefix(h, "DPoP ") {
		t.Fatalf("got %d WWW-Authenticate %q, want 401 with a DPoP challenge; body %s", r.status, h, r.raw)
	}
	return challengeParams(t, "Bearer "+strings.TrimPrefix(h, "DPoP "))
}

func TestDPoPDiscovery(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []authtest.Option
		want bool
	}{
		{"with_dpop", []authtest.Option{authtest.WithDPoP()}, true},
		{"without", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts...)
			oidc := get(t, srv, srv.OIDCIssuer()+"/.well-known/openid-configuration")
			algs, ok := oidc.body["dpop_signing_alg_values_supported"].([]any)
			if ok != tt.want {
				t.Fatalf("dpop_signing_alg_values_supported = %v, want it listed: %v", oidc.body["dpop_signing_alg_values_supported"], tt.want)
			}
			if ok && (len(algs) != 5 || algs[0] != "ES256" || !slices.Contains(algs, any("PS256")) || !slices.Contains(algs, any("RS256"))) {
				t.Errorf("algorithms %v", algs)
			}
			entra := get(t, srv, srv.Authority(contosoTID)+"/v2.0/.well-known/openid-configuration")
			if _, ok := entra.body["dpop_signing_alg_values_supported"]; ok {
				t.Errorf("the Entra shape lists DPoP algorithms")
			}
		})
	}
}

func TestDPoPTokenEndpointBindsTokens(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	htu := srv.OIDCIssuer() + "/token"
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"ES256", ecKey(t, elliptic.P256()), "ES256"},
		{"ES384", ecKey(t, elliptic.P384()), "ES384"},
		{"ES512", ecKey(t, elliptic.P521()), "ES512"},
		{"PS256", testRSAKey(t), "PS256"},
		{"RS256", testRSAKey(t), "RS256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newProofKey(t, tt.key, tt.alg)
			r := dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), nil))
			if r.status != 200 || r.str("token_type") != "DPoP" {
				t.Fatalf("%d token_type %q: %s", r.status, r.str("token_type"), r.raw)
			}
			cnf, _ := claims(t, r.str("access_token"))["cnf"].(map[string]any)
			if cnf["jkt"] != k.jkt {
				t.Errorf("cnf = %v, want jkt %s", cnf, k.jkt)
			}
		})
	}
	t.Run("no_proof_gets_a_bearer_token", func(t *testing.T) {
		r := dpopTokenRequest(t, srv)
		if r.status != 200 || r.str("token_type") != "Bearer" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if _, ok := claims(t, r.str("access_token"))["cnf"]; ok {
			t.Errorf("a bearer token has cnf")
		}
	})
	t.Run("entra_shape_ignores_dpop", func(t *testing.T) {
		k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
		req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(
			form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", apiAud+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", k.proof(t, "POST", tokenURL(srv, contosoTID), srv.Now(), nil))
		r := do(t, srv.Client(), req)
		if r.status != 200 || r.str("token_type") != "Bearer" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("oidc_without_the_option_ignores_dpop", func(t *testing.T) {
		plain := newServer(t)
		k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
		r := dpopTokenRequest(t, plain, k.proof(t, "POST", plain.OIDCIssuer()+"/token", plain.Now(), nil))
		if r.status != 200 || r.str("token_type") != "Bearer" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestDPoPTokenEndpointRefusesBadProofs(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	htu := srv.OIDCIssuer() + "/token"
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	now := srv.Now()
	replayed := k.proof(t, "POST", htu, now, nil)
	if r := dpopTokenRequest(t, srv, replayed); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	withPrivate := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	withPrivate.jwk["d"] = "AAAA"
	otherKey := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	swapped := newProofKey(t, k.key, "ES256")
	swapped.jwk = otherKey.jwk // signed by k, names another key
	tests := []struct {
		name   string
		proofs []string
		want   string // in error_description
	}{
		{"replayed_jti", []string{replayed}, "jti was used before"},
		{"wrong_htm", []string{k.proof(t, "GET", htu, now, nil)}, "htm"},
		{"wrong_htu", []string{k.proof(t, "POST", srv.OIDCIssuer()+"/authorize", now, nil)}, "htu"},
		{"htu_with_query", []string{k.proof(t, "POST", htu+"?x=1", now, nil)}, "query"},
		{"htu_with_fragment", []string{k.proof(t, "POST", htu+"#f", now, nil)}, "fragment"},
		{"htu_other_host", []string{k.proof(t, "POST", strings.Replace(htu, "127.0.0.1", "localhost", 1), now, nil)}, "htu"},
		{"stale_iat", []string{k.proof(t, "POST", htu, now.Add(-6*time.Minute), nil)}, "stale"},
		{"future_iat", []string{k.proof(t, "POST", htu, now.Add(2*time.Minute), nil)}, "future"},
		{"no_jti", []string{k.proof(t, "POST", htu, now, map[string]any{"jti": nil})}, "jti"},
		{"no_iat", []string{k.proof(t, "POST", htu, now, map[string]any{"iat": nil})}, "iat"},
		{"iat_string", []string{k.proof(t, "POST", htu, now, map[string]any{"iat": "now"})}, "iat"},
		{"nonce_not_string", []string{k.proof(t, "POST", htu, now, map[string]any{"nonce": 1})}, "nonce"},
		{"private_key_in_jwk", []string{withPrivate.proof(t, "POST", htu, now, nil)}, "private"},
		{"signed_by_another_key", []string{swapped.proof(t, "POST", htu, now, nil)}, "signature"},
		{"two_headers", []string{k.proof(t, "POST", htu, now, nil), k.proof(t, "POST", htu, now, nil)}, "2 DPoP headers"},
		{"wrong_typ", []string{signJWS(t, k.key, "ES256", map[string]any{"typ": "JWT", "jwk": k.jwk}, map[string]any{"jti": "j", "htm": "POST", "htu": htu, "iat": now.Unix()})}, "typ"},
		{"no_jwk", []string{signJWS(t, k.key, "ES256", map[string]any{"typ": "dpop+jwt"}, map[string]any{"jti": "j", "htm": "POST", "htu": htu, "iat": now.Unix()})}, "jwk"},
		{"RS384_not_listed", []string{newProofKey(t, testRSAKey(t), "RS384").proof(t, "POST", htu, now, nil)}, "algorithm"},
		{"ES384_with_a_P256_key", []string{newProofKey(t, k.key, "ES384").proof(t, "POST", htu, now, nil)}, "does not suit"},
		{"alg_none", []string{base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"j","htm":"POST","htu":"`+htu+`","iat":1}`)) + "."}, "jwk"},
		{"garbage", []string{"not a proof"}, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dpopTokenRequest(t, srv, tt.proofs...)
			r.wantError(t, 400, "invalid_dpop_proof", 0)
			if !strings.Contains(r.str("error_description"), tt.want) {
				t.Errorf("error_description %q does not say %q", r.str("error_description"), tt.want)
			}
		})
	}
}

func TestDPoPTokenEndpointNonces(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	srv.RequireDPoPNonce(authtest.EndpointToken)
	htu := srv.OIDCIssuer() + "/token"
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")

	r := dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), nil))
	r.wantError(t, 400, "use_dpop_nonce", 0)
	if !strings.Contains(r.str("error_description"), "requires a nonce") {
		t.Errorf("error_description %q", r.str("error_description"))
	}
	n1 := r.header.Get("DPoP-Nonce")
	if n1 == "" || n1 != srv.DPoPNonce(authtest.EndpointToken) {
		t.Fatalf("DPoP-Nonce %q, server's %q", n1, srv.DPoPNonce(authtest.EndpointToken))
	}
	if n1 == srv.DPoPNonce(authtest.EndpointResource) {
		t.Errorf("the token endpoint and the resource share a nonce")
	}
	if r := dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), map[string]any{"nonce": "made-up"})); r.str("error") != "use_dpop_nonce" {
		t.Errorf("unknown nonce: %d %s", r.status, r.raw)
	}
	r = dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), map[string]any{"nonce": n1}))
	if r.status != 200 || r.str("token_type") != "DPoP" || r.header.Get("DPoP-Nonce") != n1 {
		t.Fatalf("with the nonce: %d nonce %q %s", r.status, r.header.Get("DPoP-Nonce"), r.raw)
	}

	srv.RotateDPoPNonces()
	r = dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), map[string]any{"nonce": n1}))
	n2 := r.header.Get("DPoP-Nonce")
	if r.status != 200 || n2 == n1 || n2 != srv.DPoPNonce(authtest.EndpointToken) {
		t.Fatalf("previous nonce after one rotation: %d, announced %q: %s", r.status, n2, r.raw)
	}
	srv.RotateDPoPNonces()
	r = dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), map[string]any{"nonce": n1}))
	r.wantError(t, 400, "use_dpop_nonce", 0)

	srv.RequireDPoPNonce()
	r = dpopTokenRequest(t, srv, k.proof(t, "POST", htu, srv.Now(), nil))
	if r.status != 200 || r.header.Get("DPoP-Nonce") != "" {
		t.Errorf("nonces no longer required: %d nonce %q", r.status, r.header.Get("DPoP-Nonce"))
	}
	if r := dpopTokenRequest(t, srv); r.header.Get("DPoP-Nonce") != "" || r.status != 200 {
		t.Errorf("a request without DPoP: %d nonce %q", r.status, r.header.Get("DPoP-Nonce"))
	}
}

func TestDPoPResource(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	thief := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	r := dpopTokenRequest(t, srv, k.proof(t, "POST", srv.OIDCIssuer()+"/token", srv.Now(), nil))
	if r.status != 200 {
		t.Fatal(r.raw)
	}
	tok := r.str("access_token")
	bearer := dpopTokenRequest(t, srv).str("access_token")
	u := srv.URL + "/resource/orders"
	good := func() string { return k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok)}) }

	if r := dpopResource(t, srv, "GET", u+"?top=1", "DPoP", tok, good()); r.status != 200 || r.str("aud") != apiAud {
		t.Fatalf("a good proof: %d %s", r.status, r.raw)
	}
	if r := dpopResource(t, srv, "GET", u, "Bearer", bearer); r.status != 200 {
		t.Fatalf("a bearer token: %d %s", r.status, r.raw)
	}
	captured := good()
	if r := dpopResource(t, srv, "GET", u, "dpop", tok, captured); r.status != 200 {
		t.Fatalf("scheme in lower case: %d %s", r.status, r.raw)
	}
	tests := []struct {
		name, scheme, tok string
		proofs            []string
		code, want        string
	}{
		{"replayed_proof", "DPoP", tok, []string{captured}, "invalid_dpop_proof", "jti"},
		{"as_a_bearer_token", "Bearer", tok, nil, "invalid_token", "bearer token"},
		{"as_a_bearer_token_with_a_proof", "Bearer", tok, []string{good()}, "invalid_token", "bearer token"},
		{"another_key", "DPoP", tok, []string{thief.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok)})}, "invalid_token", "another key"},
		{"no_proof", "DPoP", tok, nil, "invalid_dpop_proof", "no DPoP header"},
		{"no_ath", "DPoP", tok, []string{k.proof(t, "GET", u, srv.Now(), nil)}, "invalid_dpop_proof", "no ath"},
		{"wrong_ath", "DPoP", tok, []string{k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(bearer)})}, "invalid_dpop_proof", "ath"},
		{"wrong_htm", "DPoP", tok, []string{k.proof(t, "POST", u, srv.Now(), map[string]any{"ath": ath(tok)})}, "invalid_dpop_proof", "htm"},
		{"wrong_htu", "DPoP", tok, []string{k.proof(t, "GET", srv.URL+"/resource/other", srv.Now(), map[string]any{"ath": ath(tok)})}, "invalid_dpop_proof", "htu"},
		{"stale_iat", "DPoP", tok, []string{k.proof(t, "GET", u, srv.Now().Add(-10*time.Minute), map[string]any{"ath": ath(tok)})}, "invalid_dpop_proof", "stale"},
		{"bearer_token_with_dpop_scheme", "DPoP", bearer, []string{k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(bearer)})}, "invalid_token", "not DPoP-bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := dpopResource(t, srv, "GET", u, tt.scheme, tt.tok, tt.proofs...)
			p := dpopChallenge(t, r)
			if p["error"] != tt.code || !strings.Contains(p["error_description"], tt.want) || !strings.Contains(p["algs"], "ES256") {
				t.Errorf("challenge %v, want error %s saying %q", p, tt.code, tt.want)
			}
		})
	}
	t.Run("htu_default_port_and_case", func(t *testing.T) {
		pu, _ := url.Parse(u)
		htu := "HTTP://" + strings.ToUpper(pu.Hostname()) + ":" + pu.Port() + pu.Path
		if r := dpopResource(t, srv, "GET", u, "DPoP", tok, k.proof(t, "GET", htu, srv.Now(), map[string]any{"ath": ath(tok)})); r.status != 200 {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})
	t.Run("proof_of_the_server_clock", func(t *testing.T) {
		srv.Advance(4 * time.Minute) // the token lives an hour; the proof is made now
		if r := dpopResource(t, srv, "GET", u, "DPoP", tok, good()); r.status != 200 {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})
}

func TestDPoPResourceNonces(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	srv.RequireDPoPNonce(authtest.EndpointResource)
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	tok := dpopTokenRequest(t, srv, k.proof(t, "POST", srv.OIDCIssuer()+"/token", srv.Now(), nil)).str("access_token")
	u := srv.URL + "/resource/orders"
	r := dpopResource(t, srv, "GET", u, "DPoP", tok, k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok)}))
	p := dpopChallenge(t, r)
	n := r.header.Get("DPoP-Nonce")
	if p["error"] != "use_dpop_nonce" || n == "" || n != srv.DPoPNonce(authtest.EndpointResource) {
		t.Fatalf("challenge %v, nonce %q", p, n)
	}
	r = dpopResource(t, srv, "GET", u, "DPoP", tok, k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok), "nonce": n}))
	if r.status != 200 || r.header.Get("DPoP-Nonce") != n {
		t.Fatalf("with the nonce: %d %q %s", r.status, r.header.Get("DPoP-Nonce"), r.raw)
	}
	tokenNonce := srv.DPoPNonce(authtest.EndpointToken)
	r = dpopResource(t, srv, "GET", u, "DPoP", tok, k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok), "nonce": tokenNonce}))
	if p := dpopChallenge(t, r); p["error"] != "use_dpop_nonce" {
		t.Errorf("the token endpoint's nonce at the resource: %v", p)
	}
	// Bearer tokens need no nonce.
	bearer := dpopTokenRequest(t, srv).str("access_token")
	if r := dpopResource(t, srv, "GET", u, "Bearer", bearer); r.status != 200 || r.header.Get("DPoP-Nonce") != "" {
		t.Errorf("bearer: %d nonce %q", r.status, r.header.Get("DPoP-Nonce"))
	}
}

func TestDPoPRefreshTokenBinding(t *testing.T) {
	srv := newServer(t, authtest.WithDPoP())
	htu := srv.OIDCIssuer() + "/token"
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	other := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	postDPoP := func(f url.Values, basic bool, proof string) response {
		req, _ := http.NewRequest(http.MethodPost, htu, strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth(appID, appSecret)
		}
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		return do(t, srv.Client(), req)
	}
	signIn := func(clientID string, basic bool) string {
		r := postDPoP(form("grant_type", "password", "client_id", clientID, "username", aliceName, "password", alicePass, "scope", apiAud+"/Orders.Read offline_access"),
			basic, k.proof(t, "POST", htu, srv.Now(), nil))
		if r.status != 200 || r.str("token_type") != "DPoP" || r.str("refresh_token") == "" {
			t.Fatalf("sign-in: %d %s", r.status, r.raw)
		}
		return r.str("refresh_token")
	}
	refresh := func(clientID, rt string, basic bool, proof string) response {
		return postDPoP(form("grant_type", "refresh_token", "client_id", clientID, "refresh_token", rt, "scope", apiAud+"/Orders.Read"), basic, proof)
	}
	t.Run("public_client", func(t *testing.T) {
		rt := signIn(publicID, false)
		refresh(publicID, rt, false, "").wantError(t, 400, "invalid_grant", 0)
		refresh(publicID, rt, false, other.proof(t, "POST", htu, srv.Now(), nil)).wantError(t, 400, "invalid_grant", 0)
		r := refresh(publicID, rt, false, k.proof(t, "POST", htu, srv.Now(), nil))
		if r.status != 200 || r.str("token_type") != "DPoP" {
			t.Fatalf("with the key: %d %s", r.status, r.raw)
		}
	})
	t.Run("confidential_client", func(t *testing.T) {
		rt := signIn(appID, true)
		if r := refresh(appID, rt, true, ""); r.status != 200 || r.str("token_type") != "Bearer" {
			t.Fatalf("without a proof: %d %s", r.status, r.raw)
		}
	})
}

// TestDPoPErrorsHoldNoSecret: what the server answers and logs about a
// refused proof quotes neither the access token nor the proof.
func TestDPoPErrorsHoldNoSecret(t *testing.T) {
	log := &lockedBuffer{}
	srv := newServer(t, authtest.WithDPoP(), authtest.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	k := newProofKey(t, ecKey(t, elliptic.P256()), "ES256")
	tok := dpopTokenRequest(t, srv, k.proof(t, "POST", srv.OIDCIssuer()+"/token", srv.Now(), nil)).str("access_token")
	u := srv.URL + "/resource/orders"
	proof := k.proof(t, "GET", u, srv.Now(), map[string]any{"ath": ath(tok)})
	r1 := dpopResource(t, srv, "GET", u, "Bearer", tok)
	r2 := dpopResource(t, srv, "POST", u, "DPoP", tok, proof)
	r3 := dpopTokenRequest(t, srv, proof)
	for _, r := range []response{r1, r2, r3} {
		out := r.raw + r.header.Get("WWW-Authenticate") + log.String()
		if s := containsAny(out, tok, proof, strings.Split(proof, ".")[2]); s != "" {
			t.Errorf("a secret shows in %d %s", r.status, r.raw)
		}
		if r.status != 400 && r.status != 401 {
			t.Errorf("status %d", r.status)
		}
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(r3.raw), &body)
	if body["error"] != "invalid_dpop_proof" {
		t.Errorf("%v", body)
	}
}

// lockedBuffer is a log destination the server's goroutines may write to
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FuzzDPoPResource feeds the resource a DPoP-bound token with arbitrary
// DPoP headers, schemes, methods and paths: whatever the proof, the
// answer is a 401 with a DPoP or Bearer challenge, never a 200 (the token
// is bound to a key nobody holds), a 5xx or a panic.
func FuzzDPoPResource(f *testing.F) {
	srv := authtest.NewServer(f, authtest.WithDPoP(), authtest.WithLogger(slog.New(slog.DiscardHandler)))
	register(srv)
	k := newProofKey(f, ecKey(f, elliptic.P256()), "ES256")
	// Bound to a key nobody holds: every proof is checked in full, then
	// refused for the binding at the latest.
	tok := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: apiAud, Roles: []string{"Orders.Read.All"},
		Claims: map[string]any{"cnf": map[string]any{"jkt": "not-the-key"}}})
	u := "http://example.com/resource/orders"
	f.Add("DPoP", "GET", "/resource/orders", k.proof(f, "GET", u, srv.Now(), map[string]any{"ath": ath(tok)}))
	f.Add("DPoP", "POST", "/resource/orders", k.proof(f, "GET", u, srv.Now(), nil))
	f.Add("Bearer", "GET", "/v1.0/me", "")
	f.Add("dpop", "GET", "/resource/x", "a.b.c")
	f.Fuzz(func(t *testing.T, scheme, method, path, proof string) {
		if !strings.HasPrefix(path, "/resource/") || strings.ContainsAny(path, "?# \t\r\n") {
			path = "/resource/orders"
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			path = "/resource/orders" // such as a stray "%": no client could send it
		}
		switch method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			method = "GET"
		}
		req := httptest.NewRequest(method, "http://example.com"+path, nil)
		req.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusUnauthorized:
			h := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(h, "DPoP ") && !strings.HasPrefix(h, "Bearer ") {
				t.Fatalf("401 with challenge %q", h)
			}
		default:
			t.Fatalf("status %d for a token bound to no key the fuzzer holds: %s", rec.Code, rec.Body.String())
		}
	})
}
