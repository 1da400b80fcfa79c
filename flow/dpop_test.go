package flow

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/dpop"
)

const (
	dpopClientID = "dpop-daemon"
	dpopSecret   = "dpop-s3cret-VALUE"
	ordersAud    = "api://orders"
	ordersScope  = ordersAud + "/.default"
)

func p256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kmsKey stands for a key in a KMS or an HSM: only Public and Sign.
type kmsKey struct{ s crypto.Signer }

func (k kmsKey) Public() crypto.PublicKey { return k.s.Public() }
func (k kmsKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return k.s.Sign(r, d, o)
}

// newDPoPServer returns a TLS authtest server with DPoP on (and opts), on
// a stopped clock at t0, with a client and the orders API registered.
func newDPoPServer(t *testing.T, opts ...authtest.Option) *authtest.Server {
	t.Helper()
	srv := authtest.NewTLSServer(t, append([]authtest.Option{authtest.WithDPoP()}, opts...)...)
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: dpopClientID, Secret: dpopSecret})
	srv.AddAPI(authtest.API{Audience: ordersAud, Scopes: []string{"Orders.Read"}, Roles: []string{"Orders.Read.All"}})
	return srv
}

// dpopApp returns a confidential client of srv's OIDC shape sharing its
// clock, with opts (WithDPoP among them, usually).
func dpopApp(t *testing.T, srv *authtest.Server, opts ...Option) *Confidential {
	t.Helper()
	return mustConfidential(t, dpopClientID, credential.Secret(dpopSecret),
		append([]Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithClock(srv.Now)}, opts...)...)
}

// resourceClient is an HTTP client whose transport puts src's tokens on
// requests to the server's resource.
func resourceClient(srv *authtest.Server, src bearer.TokenSource) *http.Client {
	return &http.Client{Transport: &bearer.Transport{
		Source: src, Scopes: []string{ordersScope}, Base: srv.Client().Transport, AllowedHosts: []string{"127.0.0.1"},
	}}
}

// getStatus GETs u with c and returns the status.
func getStatus(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// jwtParts decodes a compact JWS's header and claims.
func jwtParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	var out [2]map[string]any
	for i := range out {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

func thumbprint(t *testing.T, k crypto.Signer) string {
	t.Helper()
	jkt, err := dpop.Thumbprint(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return jkt
}

// TestDPoPEndToEnd: a client using DPoP calls an authtest resource that,
// like the token endpoint, demands nonces: the token request is answered
// 400 use_dpop_nonce and sent once more with the nonce; the resource
// call is answered 401 use_dpop_nonce and resent once with its nonce;
// the next call carries the remembered nonce and the cached token, and
// needs neither a token request nor a challenge. Every request carries a
// fresh proof of the app's key.
func TestDPoPEndToEnd(t *testing.T) {
	srv := newDPoPServer(t)
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	key := p256(t)
	app := dpopApp(t, srv, WithDPoP(key))
	c := resourceClient(srv, app.ClientSource())
	orders := srv.URL + "/resource/orders"

	if s := getStatus(t, c, orders+"?top=5#frag"); s != 200 {
		t.Fatalf("first call: %d", s)
	}
	tokReqs := srv.RequestsTo(authtest.EndpointToken)
	if len(tokReqs) != 2 || tokReqs[0].Status != 400 || tokReqs[1].Status != 200 {
		t.Fatalf("token requests %v, want 400 use_dpop_nonce then 200", tokReqs)
	}
	jkt := thumbprint(t, key)
	seen := map[string]bool{}
	checkProof := func(r authtest.Request, htm, htu, nonce string, withToken bool) {
		t.Helper()
		proofs := r.Header.Values("DPoP")
		if len(proofs) != 1 {
			t.Fatalf("%d DPoP headers", len(proofs))
		}
		hdr, cl := jwtParts(t, proofs[0])
		jwk, _ := hdr["jwk"].(map[string]any)
		if hdr["typ"] != "dpop+jwt" || hdr["alg"] != "ES256" || jwk["d"] != nil || jwk["kty"] != "EC" {
			t.Errorf("proof header %v", hdr)
		}
		if cl["htm"] != htm || cl["htu"] != htu || cl["iat"] != float64(t0.Unix()) {
			t.Errorf("proof claims %v, want htm %s htu %s iat %d (the app's clock)", cl, htm, htu, t0.Unix())
		}
		if n, _ := cl["nonce"].(string); n != nonce {
			t.Errorf("nonce %q, want %q", n, nonce)
		}
		if _, ok := cl["ath"]; ok != withToken {
			t.Errorf("ath present: %v, want %v", ok, withToken)
		}
		jti, _ := cl["jti"].(string)
		if jti == "" || seen[jti] {
			t.Errorf("jti %q reused", jti)
		}
		seen[jti] = true
	}
	tokNonce := srv.DPoPNonce(authtest.EndpointToken)
	checkProof(tokReqs[0], "POST", srv.OIDCIssuer()+"/token", "", false)
	checkProof(tokReqs[1], "POST", srv.OIDCIssuer()+"/token", tokNonce, false)

	res := srv.RequestsTo(authtest.EndpointResource)
	if len(res) != 2 || res[0].Status != 401 || res[1].Status != 200 {
		t.Fatalf("resource requests %v, want 401 use_dpop_nonce then 200", res)
	}
	rsNonce := srv.DPoPNonce(authtest.EndpointResource)
	checkProof(res[0], "GET", orders, "", true)
	checkProof(res[1], "GET", orders, rsNonce, true)
	auth := res[1].Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "DPoP ")
	if !ok {
		t.Fatalf("Authorization %q", auth)
	}
	claims, err := srv.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if cnf, _ := claims["cnf"].(map[string]any); cnf["jkt"] != jkt {
		t.Errorf("token bound to %v, key %s", claims["cnf"], jkt)
	}

	srv.ResetRequests()
	if s := getStatus(t, c, orders); s != 200 {
		t.Fatalf("second call: %d", s)
	}
	res = srv.RequestsTo(authtest.EndpointResource)
	if n := srv.TokenRequests(); n != 0 || len(res) != 1 {
		t.Fatalf("second call: %d token requests, %d resource requests; want 0 and 1", n, len(res))
	}
	checkProof(res[0], "GET", orders, rsNonce, true)

	// A nonce the resource announces in a 200 is used from then on.
	srv.RotateDPoPNonces()
	srv.ResetRequests()
	for i := range 2 {
		if s := getStatus(t, c, orders); s != 200 {
			t.Fatalf("call %d after rotation: %d", i, s)
		}
	}
	res = srv.RequestsTo(authtest.EndpointResource)
	if len(res) != 2 {
		t.Fatalf("%d resource requests after the rotation, want 2 (no challenge)", len(res))
	}
	checkProof(res[0], "GET", orders, rsNonce, true)
	checkProof(res[1], "GET", orders, srv.DPoPNonce(authtest.EndpointResource), true)
}

// TestDPoPStolenTokenRefused: the token the transport sent is refused to
// whoever replays the request, presents it as a bearer token, or proves
// another key.
func TestDPoPStolenTokenRefused(t *testing.T) {
	srv := newDPoPServer(t)
	app := dpopApp(t, srv, WithDPoP(p256(t)))
	orders := srv.URL + "/resource/orders"
	if s := getStatus(t, resourceClient(srv, app.ClientSource()), orders); s != 200 {
		t.Fatalf("%d", s)
	}
	sent := srv.RequestsTo(authtest.EndpointResource)[0]
	tok := strings.TrimPrefix(sent.Header.Get("Authorization"), "DPoP ")
	send := func(h http.Header) int {
		req, _ := http.NewRequest("GET", orders, nil)
		req.Header = h
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := send(sent.Header.Clone()); s != 401 {
		t.Errorf("replayed request: %d", s)
	}
	if s := send(http.Header{"Authorization": {"Bearer " + tok}}); s != 401 {
		t.Errorf("as a bearer token: %d", s)
	}
	thief, err := NewConfidential(dpopClientID, credential.Secret(dpopSecret), WithOIDCAuthority(srv.OIDCIssuer()),
		WithHTTPClient(srv.Client()), WithClock(srv.Now), WithDPoP(p256(t)))
	if err != nil {
		t.Fatal(err)
	}
	stolen := dpopSource{TokenSource: bearer.TokenSourceFunc(func(context.Context, bearer.TokenRequest) (bearer.Token, error) {
		return bearer.Token{AccessToken: tok, TokenType: "DPoP"}, nil
	}), d: thief.dpop}
	if s := getStatus(t, resourceClient(srv, stolen), orders); s != 401 {
		t.Errorf("with another key's proof: %d", s)
	}
}

// TestDPoPKeys: every kind of key, in memory or opaque (KMS, HSM), gets
// tokens bound to it, with the algorithm the authority lists for it.
func TestDPoPKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	srv := newDPoPServer(t)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"P-256", p256(t), "ES256"},
		{"P-384", p384, "ES384"},
		{"P-521", p521, "ES512"},
		{"RSA", rsaKey, "PS256"},
		{"KMS_P-256", kmsKey{p256(t)}, "ES256"},
		{"KMS_RSA", kmsKey{rsaKey}, "PS256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			app := dpopApp(t, srv, WithDPoP(tt.key))
			if s := getStatus(t, resourceClient(srv, app.ClientSource()), srv.URL+"/resource/orders"); s != 200 {
				t.Fatalf("%d", s)
			}
			r := srv.RequestsTo(authtest.EndpointResource)[0]
			hdr, _ := jwtParts(t, r.Header.Get("DPoP"))
			if hdr["alg"] != tt.alg {
				t.Errorf("alg %v, want %s", hdr["alg"], tt.alg)
			}
			res, err := app.AcquireTokenForClient(bg(), []string{ordersScope})
			if err != nil || res.TokenType != "DPoP" || !res.FromCache {
				t.Fatalf("%v %v", res, err)
			}
		})
	}
}

// TestDPoPRSAWithAnAuthorityListingRS256Only: an RSA key signs RS256 for
// an authority that lists only RS256.
func TestDPoPRSAWithAnAuthorityListingRS256Only(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var proofs []string
	s := newOIDCStub(t, []string{"RS256"}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proofs = append(proofs, r.Header.Get("DPoP"))
		mu.Unlock()
		writeJSON(w, 200, `{"access_token":"at","token_type":"DPoP","expires_in":3600}`)
	})
	app := mustConfidential(t, "cid", credential.Secret("s"), WithOIDCAuthority(s.URL), WithDPoP(rsaKey))
	if _, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hdr, _ := jwtParts(t, proofs[0]); hdr["alg"] != "RS256" {
		t.Errorf("alg %v", hdr["alg"])
	}
}

// newOIDCStub serves an OIDC discovery document listing dpopAlgs (none:
// no dpop_signing_alg_values_supported) and token with the handler.
func newOIDCStub(t *testing.T, dpopAlgs []string, token http.HandlerFunc) *httptest.Server {
	t.Helper()
	var s *httptest.Server
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			doc := map[string]any{"issuer": s.URL, "token_endpoint": s.URL + "/token", "authorization_endpoint": s.URL + "/authorize", "jwks_uri": s.URL + "/keys"}
			if dpopAlgs != nil {
				doc["dpop_signing_alg_values_supported"] = dpopAlgs
			}
			b, _ := json.Marshal(doc)
			writeJSON(w, 200, string(b))
		case "/token":
			token(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestDPoPTokenNonceRetriedOnce: a 400 use_dpop_nonce with a nonce gets
// one more attempt, carrying the nonce; a second one is the call's error;
// without a nonce there is no retry.
func TestDPoPTokenNonceRetriedOnce(t *testing.T) {
	for _, tt := range []struct {
		name     string
		nonce    string
		attempts int
	}{
		{"with_a_nonce", "n-1", 2},
		{"without_a_nonce", "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var proofs []string
			s := newOIDCStub(t, []string{"ES256"}, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				proofs = append(proofs, r.Header.Get("DPoP"))
				mu.Unlock()
				if tt.nonce != "" {
					w.Header().Set("DPoP-Nonce", tt.nonce)
				}
				writeJSON(w, 400, `{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}`)
			})
			app := mustConfidential(t, "cid", credential.Secret("s"), WithOIDCAuthority(s.URL), WithDPoP(p256(t)))
			_, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
			var fe *Error
			if !errors.As(err, &fe) || fe.Code != "use_dpop_nonce" {
				t.Fatalf("err = %v, want the authority's use_dpop_nonce", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(proofs) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(proofs), tt.attempts)
			}
			if tt.attempts == 2 {
				_, c := jwtParts(t, proofs[1])
				if c["nonce"] != tt.nonce {
					t.Errorf("retry's nonce %v", c["nonce"])
				}
			}
		})
	}
}

// TestDPoPNotSupported: asking for DPoP from an authority that does not
// list it fails before any token request, with an error wrapping
// ErrDPoPNotSupported; SupportsDPoP tells beforehand.
func TestDPoPNotSupported(t *testing.T) {
	plain := authtest.NewTLSServer(t)
	plain.AddClient(authtest.Client{ID: dpopClientID, Secret: dpopSecret})
	withDPoP := newDPoPServer(t)
	tests := []struct {
		name string
		srv  *authtest.Server
		opt  Option
		want bool
	}{
		{"oidc_with_dpop", withDPoP, WithOIDCAuthority(withDPoP.OIDCIssuer()), true},
		{"oidc_without", plain, WithOIDCAuthority(plain.OIDCIssuer()), false},
		{"entra", plain, WithAuthority(plain.Authority("contoso.com")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := mustConfidential(t, dpopClientID, credential.Secret(dpopSecret), tt.opt, WithHTTPClient(tt.srv.Client()), WithDPoP(p256(t)))
			ok, err := app.SupportsDPoP(bg())
			if err != nil || ok != tt.want {
				t.Fatalf("SupportsDPoP = %v, %v; want %v", ok, err, tt.want)
			}
			bearerApp := mustConfidential(t, dpopClientID, credential.Secret(dpopSecret), tt.opt, WithHTTPClient(tt.srv.Client()))
			if ok2, err := bearerApp.SupportsDPoP(bg()); err != nil || ok2 != tt.want {
				t.Errorf("an app without DPoP: SupportsDPoP = %v, %v", ok2, err)
			}
			if tt.want {
				return
			}
			tt.srv.ResetRequests()
			_, err = app.AcquireTokenForClient(bg(), []string{graphDefault})
			if !errors.Is(err, ErrDPoPNotSupported) || !strings.Contains(err.Error(), "dpop_signing_alg_values_supported") {
				t.Errorf("err = %v, want ErrDPoPNotSupported naming the metadata", err)
			}
			if n := tt.srv.TokenRequests(); n != 0 {
				t.Errorf("%d token requests", n)
			}
		})
	}
	t.Run("discovery_fails", func(t *testing.T) {
		down := client(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("connection refused") }))
		noWait := RetryPolicy{Sleep: func(context.Context, time.Duration) error { return nil }}
		app := mustConfidential(t, "cid", credential.Secret("s"), WithOIDCAuthority("https://127.0.0.1:1/realm"), WithDPoP(p256(t)),
			WithHTTPClient(down), WithRetryPolicy(noWait))
		if _, err := app.SupportsDPoP(bg()); err == nil || !errors.Is(err, ErrDiscovery) {
			t.Errorf("err = %v, want ErrDiscovery", err)
		}
	})
	t.Run("no_algorithm_for_the_key", func(t *testing.T) {
		s := newOIDCStub(t, []string{"EdDSA"}, func(w http.ResponseWriter, r *http.Request) { t.Error("token request sent") })
		app := mustConfidential(t, "cid", credential.Secret("s"), WithOIDCAuthority(s.URL), WithDPoP(p256(t)))
		_, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
		if !errors.Is(err, ErrDPoPNotSupported) || !errors.Is(err, dpop.ErrUnsupportedKey) || !strings.Contains(err.Error(), "EdDSA") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestDPoPBearerAnswerDiscarded: an authority that answers a DPoP token
// request with a bearer token fails the call; the token is not cached.
func TestDPoPBearerAnswerDiscarded(t *testing.T) {
	var mu sync.Mutex
	n := 0
	s := newOIDCStub(t, []string{"ES256"}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		writeJSON(w, 200, `{"access_token":"plain-bearer-token","token_type":"Bearer","expires_in":3600}`)
	})
	app := mustConfidential(t, "cid", credential.Secret("s"), WithOIDCAuthority(s.URL), WithDPoP(p256(t)))
	for range 2 {
		_, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
		if !errors.Is(err, ErrDPoPNotSupported) || !strings.Contains(err.Error(), `"Bearer"`) || strings.Contains(err.Error(), "plain-bearer-token") {
			t.Fatalf("err = %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 2 {
		t.Errorf("%d token requests, want 2 (nothing cached)", n)
	}
}

// TestDPoPCachedApart: DPoP tokens are cached under their type and key:
// an application of another key, or a bearer application, sharing the
// cache does not get them, and the MSAL JSON says token_type DPoP and
// key_id the key's thumbprint.
func TestDPoPCachedApart(t *testing.T) {
	srv := newDPoPServer(t)
	shared := cache.New()
	k1, k2 := p256(t), p256(t)
	first := dpopApp(t, srv, WithDPoP(k1), WithCache(shared))
	r1, err := first.AcquireTokenForClient(bg(), []string{ordersScope})
	if err != nil || r1.TokenType != "DPoP" || r1.FromCache {
		t.Fatalf("%v %v", r1, err)
	}
	if got := msalAccessTokens(t, shared); len(got) != 1 || got[0] != "DPoP "+thumbprint(t, k1) {
		t.Errorf("MSAL JSON access tokens %q, want token_type DPoP and key_id the key's thumbprint", got)
	}
	again := dpopApp(t, srv, WithDPoP(k1), WithCache(shared))
	if r, err := again.AcquireTokenForClient(bg(), []string{ordersScope}); err != nil || !r.FromCache || r.AccessToken != r1.AccessToken || r.TokenType != "DPoP" {
		t.Errorf("same key: %v %v, want the cached DPoP token", r, err)
	}
	other := dpopApp(t, srv, WithDPoP(k2), WithCache(shared))
	if r, err := other.AcquireTokenForClient(bg(), []string{ordersScope}); err != nil || r.FromCache {
		t.Errorf("another key: %v %v, want a new token", r, err)
	}
	bearerApp := dpopApp(t, srv, WithCache(shared))
	rb, err := bearerApp.AcquireTokenForClient(bg(), []string{ordersScope})
	if err != nil || rb.FromCache || rb.TokenType != "Bearer" {
		t.Errorf("bearer: %v %v, want a new bearer token", rb, err)
	}
	if r, err := again.AcquireTokenForClient(bg(), []string{ordersScope}); err != nil || r.AccessToken != r1.AccessToken {
		t.Errorf("the bearer token replaced the DPoP one: %v %v", r, err)
	}

	// A DPoP application does not take a cached bearer token either.
	bearerFirst := cache.New()
	if _, err := dpopApp(t, srv, WithCache(bearerFirst)).AcquireTokenForClient(bg(), []string{ordersScope}); err != nil {
		t.Fatal(err)
	}
	if r, err := dpopApp(t, srv, WithDPoP(k1), WithCache(bearerFirst)).AcquireTokenForClient(bg(), []string{ordersScope}); err != nil || r.FromCache || r.TokenType != "DPoP" {
		t.Errorf("DPoP after bearer: %v %v, want a new DPoP token", r, err)
	}
}

// msalAccessTokens lists the token_type and key_id of every access token
// in c's MSAL JSON.
func msalAccessTokens(t *testing.T, c *cache.Cache) []string {
	t.Helper()
	doc, err := c.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		AccessToken map[string]map[string]any
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, at := range m.AccessToken {
		kid, _ := at["key_id"].(string)
		typ, _ := at["token_type"].(string)
		out = append(out, typ+" "+kid)
	}
	return out
}

// TestDPoPNonceThenClaimsChallenge: a resource that wants a nonce and then
// a token issued after a revocation gets two resends, and no third.
func TestDPoPNonceThenClaimsChallenge(t *testing.T) {
	srv := newDPoPServer(t)
	srv.RequireDPoPNonce(authtest.EndpointResource)
	app := dpopApp(t, srv, WithDPoP(p256(t)), WithCapabilities("cp1"))
	c := resourceClient(srv, app.ClientSource())
	orders := srv.URL + "/resource/orders"
	if s := getStatus(t, c, orders); s != 200 {
		t.Fatalf("%d", s)
	}
	srv.Advance(1) // the revocation comes after the token
	srv.Revoke(dpopClientID)
	srv.RotateDPoPNonces()
	srv.RotateDPoPNonces() // the remembered nonce is no longer accepted
	srv.ResetRequests()
	if s := getStatus(t, c, orders); s != 200 {
		t.Fatalf("after the revocation: %d", s)
	}
	res := srv.RequestsTo(authtest.EndpointResource)
	if len(res) != 3 || res[0].Status != 401 || res[1].Status != 401 || res[2].Status != 200 {
		t.Fatalf("resource requests %v, want 401 (nonce), 401 (claims), 200", res)
	}
	if tr := srv.RequestsTo(authtest.EndpointToken); len(tr) != 1 || tr[0].Form.Get("claims") == "" {
		t.Errorf("token requests %v, want one with claims", tr)
	}
	if !strings.Contains(res[1].Header.Get("DPoP"), ".") || res[1].Header.Get("DPoP") == res[2].Header.Get("DPoP") {
		t.Errorf("the resends share a proof")
	}

	// A third challenge is returned as it is.
	srv.RotateDPoPNonces()
	srv.RotateDPoPNonces()
	srv.Advance(1)
	srv.Revoke(dpopClientID)
	srv.RequireAuthContext("/resource/", "c1")
	srv.ResetRequests()
	if s := getStatus(t, c, orders); s != 401 {
		t.Fatalf("%d", s)
	}
	if n := len(srv.RequestsTo(authtest.EndpointResource)); n != 3 {
		t.Errorf("%d resource requests, want 3 (two resends at most)", n)
	}
}

// TestDPoPOptionErrors: keys that cannot sign proofs fail the constructor.
func TestDPoPOptionErrors(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, tt := range []struct {
		name string
		key  crypto.Signer
	}{{"nil", nil}, {"P-224", p224}, {"RSA_1024", small}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewConfidential("cid", credential.Secret("s"), WithDPoP(tt.key))
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("err = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestDPoPSecretsStaySecret: the debug log of a DPoP session (token
// requests, a nonce retry, resource calls, a refusal) holds no token,
// proof, nonce value or key.
func TestDPoPSecretsStaySecret(t *testing.T) {
	srv := newDPoPServer(t)
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	var logs logBuffer
	key := p256(t)
	app := dpopApp(t, srv, WithDPoP(key), WithLogger(logs.logger()), WithPII(true))
	c := resourceClient(srv, app.ClientSource())
	if s := getStatus(t, c, srv.URL+"/resource/orders"); s != 200 {
		t.Fatalf("%d", s)
	}
	var secrets []string
	for _, r := range srv.Requests() {
		if p := r.Header.Get("DPoP"); p != "" {
			secrets = append(secrets, p, strings.Split(p, ".")[2])
		}
		if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "DPoP ") {
			secrets = append(secrets, strings.TrimPrefix(a, "DPoP "))
		}
	}
	secrets = append(secrets, srv.DPoPNonce(authtest.EndpointToken), srv.DPoPNonce(authtest.EndpointResource), dpopSecret,
		base64.RawURLEncoding.EncodeToString(key.D.Bytes()))
	out := logs.String()
	if !strings.Contains(out, "DPoP nonce") {
		t.Errorf("the nonce retry was not logged: %s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret: %.20s…", s)
		}
	}
}

// TestDPoPSources: with DPoP, the application's sources put tokens on
// requests themselves and keep nonces; without, they are plain
// TokenSources (the transport's bearer path).
func TestDPoPSources(t *testing.T) {
	srv := newDPoPServer(t)
	with := dpopApp(t, srv, WithDPoP(p256(t)))
	without := dpopApp(t, srv)
	for _, tt := range []struct {
		name string
		src  bearer.TokenSource
		want bool
	}{
		{"client_dpop", with.ClientSource(), true},
		{"obo_dpop", with.OnBehalfOfSource(), true},
		{"client_bearer", without.ClientSource(), false},
		{"obo_bearer", without.OnBehalfOfSource(), false},
	} {
		_, ra := tt.src.(bearer.RequestAuthorizer)
		_, nr := tt.src.(bearer.NonceReceiver)
		if ra != tt.want || nr != tt.want {
			t.Errorf("%s: RequestAuthorizer %v, NonceReceiver %v; want %v", tt.name, ra, nr, tt.want)
		}
	}
}

// TestDPoPOnBehalfOf: a web API using DPoP gets on-behalf-of tokens bound
// to its key and calls the downstream API with them.
func TestDPoPOnBehalfOf(t *testing.T) {
	srv := newDPoPServer(t)
	app := dpopApp(t, srv, WithDPoP(p256(t)))
	user := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://" + dpopClientID, Subject: "alice@contoso.com", Scopes: []string{"access_as_user"}})
	c := &http.Client{Transport: &bearer.Transport{
		Source: app.OnBehalfOfSource(), Scopes: []string{ordersAud + "/Orders.Read"}, Base: srv.Client().Transport, AllowedHosts: []string{"127.0.0.1"},
	}}
	req, _ := http.NewRequestWithContext(ContextWithUserAssertion(bg(), user), "GET", srv.URL+"/resource/orders", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	tr := srv.RequestsTo(authtest.EndpointToken)
	if len(tr) != 1 || tr[0].GrantType != "urn:ietf:params:oauth:grant-type:jwt-bearer" || tr[0].Header.Get("DPoP") == "" {
		t.Errorf("token requests %v", tr)
	}
	if a := srv.RequestsTo(authtest.EndpointResource)[0].Header.Get("Authorization"); !strings.HasPrefix(a, "DPoP ") {
		t.Errorf("Authorization %.10q", a)
	}
}

// TestDPoPAuthorizeRequestNonce: a nonce given to AuthorizeRequest is
// used and remembered for the origin; another origin's is not used.
func TestDPoPAuthorizeRequestNonce(t *testing.T) {
	app := mustConfidential(t, "cid", credential.Secret("s"), WithDPoP(p256(t)))
	src := app.ClientSource().(bearer.RequestAuthorizer)
	tok := bearer.Token{AccessToken: "at", TokenType: "DPoP"}
	nonceOf := func(u, nonce string) any {
		req, _ := http.NewRequest("GET", u, nil)
		if err := src.AuthorizeRequest(req, tok, nonce); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Authorization") != "DPoP at" {
			t.Errorf("Authorization %q", req.Header.Get("Authorization"))
		}
		_, c := jwtParts(t, req.Header.Get("DPoP"))
		return c["nonce"]
	}
	if n := nonceOf("https://rs.example/a", "n1"); n != "n1" {
		t.Errorf("given nonce: %v", n)
	}
	if n := nonceOf("https://RS.example/b?q=1", ""); n != "n1" {
		t.Errorf("remembered nonce: %v", n)
	}
	if n := nonceOf("https://rs.example:8443/a", ""); n != nil {
		t.Errorf("another origin's nonce: %v", n)
	}
	req, _ := http.NewRequest("GET", "https://rs.example/a", nil)
	if err := src.AuthorizeRequest(req, bearer.Token{AccessToken: "at", TokenType: "Bearer"}, ""); err == nil || strings.Contains(err.Error(), "at\"") {
		t.Errorf("a bearer token: %v", err)
	}
}

// TestDPoPConcurrentCalls: many goroutines share one DPoP transport while
// both ends demand nonces: every call succeeds (the resource refuses a
// reused jti, so every proof was fresh), and the concurrent first calls
// share one token acquisition (its nonce retry included).
func TestDPoPConcurrentCalls(t *testing.T) {
	srv := newDPoPServer(t)
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)
	app := dpopApp(t, srv, WithDPoP(p256(t)))
	c := resourceClient(srv, app.ClientSource())
	orders := srv.URL + "/resource/orders"
	const workers, calls = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				resp, err := c.Get(orders)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- errors.New(resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tr := srv.RequestsTo(authtest.EndpointToken); len(tr) != 2 {
		t.Errorf("%d token requests, want 2 (one acquisition and its nonce retry)", len(tr))
	}
	ok := 0
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		if r.Status == 200 {
			ok++
		}
	}
	if ok != workers*calls {
		t.Errorf("%d calls accepted, want %d", ok, workers*calls)
	}
}

// TestDPoPIgnoredByManagedIdentity: managed identity sources issue bearer
// tokens only; WithDPoP does not change how they are cached or sent.
func TestDPoPIgnoredByManagedIdentity(t *testing.T) {
	srv := authtest.NewServer(t)
	m, err := NewManagedIdentity(WithIMDSEndpoint(srv.URL), WithGetenv(envOf(nil)), WithDPoP(p256(t)))
	if err != nil {
		t.Fatal(err)
	}
	src := m.Source()
	if _, ok := src.(bearer.RequestAuthorizer); ok {
		t.Error("a managed identity's source authorizes requests itself")
	}
	for i := range 2 {
		tok, err := src.Token(bg(), bearer.TokenRequest{Scopes: []string{graphAud + "/.default"}})
		if err != nil || tok.TokenType != "Bearer" {
			t.Fatalf("call %d: %v %v", i, tok, err)
		}
	}
	if n := srv.CountRequests(authtest.EndpointManagedIdentity); n != 1 {
		t.Errorf("%d requests to the source, want 1 (the second from the cache)", n)
	}
}
