package flow

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/authtest"
)

// verifierKeys are an RSA and a P-256 key, published as a JWKS.
var verifierKeys struct {
	once sync.Once
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	set  jwk.Set
}

func initVerifierKeys() *struct {
	once sync.Once
	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	set  jwk.Set
} {
	k := &verifierKeys
	k.once.Do(func() {
		k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
		k.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		k.set = jwk.NewSet()
		for kid, priv := range map[string]any{"rsa1": k.rsa, "ec1": k.ec} {
			pub, _ := jwk.PublicKeyOf(priv)
			_ = pub.Set(jwk.KeyIDKey, kid)
			_ = k.set.AddKey(pub)
		}
	})
	return k
}

func testVerifier(t testing.TB, now time.Time) *idTokenVerifier {
	t.Helper()
	k := initVerifierKeys()
	return &idTokenVerifier{
		clientID: "client-1",
		now:      now,
		issuer: func(tid string) (string, error) {
			return issuerForTenant("https://issuer.example/{tenantid}/v2.0", tid)
		},
		key: func(_ context.Context, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
			if key, ok := signingKey(alg)(k.set, kid); ok {
				return key, nil
			}
			return nil, errUnknownKey
		},
		nonce: "nonce-1",
	}
}

// signTest signs claims with the verifier's key of alg under kid.
func signTest(t testing.TB, alg jwa.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	initVerifierKeys()
	b, _ := json.Marshal(claims)
	var key any = verifierKeys.rsa
	if alg == jwa.ES256 {
		key = verifierKeys.ec
	}
	h := jws.NewHeaders()
	if kid != "" {
		_ = h.Set(jws.KeyIDKey, kid)
	}
	tok, err := jws.Sign(b, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "https://issuer.example/tid-1/v2.0", "tid": "tid-1", "aud": "client-1", "sub": "s",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "nonce-1",
		"auth_time": now.Add(-time.Minute).Unix(),
	}
}

func TestIDTokenVerifierChecks(t *testing.T) {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	with := func(k string, v any) map[string]any {
		c := goodClaims(now)
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	v := testVerifier(t, now)
	if c, err := v.verify(bg(), signTest(t, jwa.RS256, "rsa1", goodClaims(now))); err != nil || c["sub"] != "s" {
		t.Fatalf("a good RS256 token: %v", err)
	}
	if _, err := v.verify(bg(), signTest(t, jwa.ES256, "ec1", goodClaims(now))); err != nil {
		t.Fatalf("a good ES256 token: %v", err)
	}
	if _, err := v.verify(bg(), signTest(t, jwa.PS256, "rsa1", goodClaims(now))); err != nil {
		t.Fatalf("a good PS256 token: %v", err)
	}
	good := signTest(t, jwa.RS256, "rsa1", goodClaims(now))
	parts := strings.Split(good, ".")
	tests := []struct {
		name, token, check string
		maxAge             time.Duration
	}{
		{"empty", "", "format", 0},
		{"two_parts", parts[0] + "." + parts[1], "format", 0},
		{"header_not_json", b64url([]byte("nope")) + "." + parts[1] + "." + parts[2], "format", 0},
		{"header_not_base64", "!!." + parts[1] + "." + parts[2], "format", 0},
		{"too_long", strings.Repeat("a", maxJWTBytes+1), "format", 0},
		{"alg_none", b64url([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", "alg", 0},
		{"alg_none_case", b64url([]byte(`{"alg":"NoNe"}`)) + "." + parts[1] + ".", "alg", 0},
		{"alg_hs256", b64url([]byte(`{"alg":"HS256","kid":"rsa1"}`)) + "." + parts[1] + ".c2ln", "alg", 0},
		{"alg_unknown", b64url([]byte(`{"alg":"RS1","kid":"rsa1"}`)) + "." + parts[1] + ".c2ln", "alg", 0},
		{"crit", b64url([]byte(`{"alg":"RS256","kid":"rsa1","crit":["exp"]}`)) + "." + parts[1] + "." + parts[2], "format", 0},
		{"no_signature", parts[0] + "." + parts[1] + ".", "signature", 0},
		{"tampered_payload", parts[0] + "." + b64url([]byte(`{"iss":"x"}`)) + "." + parts[2], "signature", 0},
		{"unknown_kid", signTest(t, jwa.RS256, "rsa9", goodClaims(now)), "signature", 0},
		{"kid_of_another_key_type", signTest(t, jwa.RS256, "ec1", goodClaims(now)), "signature", 0},
		{"wrong_iss", signTest(t, jwa.RS256, "rsa1", with("iss", "https://evil.example/tid-1/v2.0")), "iss", 0},
		{"iss_of_another_tid", signTest(t, jwa.RS256, "rsa1", with("tid", "tid-2")), "iss", 0},
		{"tid_not_a_tenant", signTest(t, jwa.RS256, "rsa1", with("tid", "a/b")), "iss", 0},
		{"no_iss", signTest(t, jwa.RS256, "rsa1", with("iss", nil)), "iss", 0},
		{"wrong_aud", signTest(t, jwa.RS256, "rsa1", with("aud", "client-2")), "aud", 0},
		{"aud_number", signTest(t, jwa.RS256, "rsa1", with("aud", 7)), "aud", 0},
		{"aud_list_without_azp", signTest(t, jwa.RS256, "rsa1", with("aud", []string{"client-1", "client-2"})), "azp", 0},
		{"azp_of_another", signTest(t, jwa.RS256, "rsa1", with("azp", "client-2")), "azp", 0},
		{"no_exp", signTest(t, jwa.RS256, "rsa1", with("exp", nil)), "exp", 0},
		{"expired", signTest(t, jwa.RS256, "rsa1", with("exp", now.Add(-IDTokenClockSkew-time.Second).Unix())), "exp", 0},
		{"exp_string", signTest(t, jwa.RS256, "rsa1", with("exp", "tomorrow")), "exp", 0},
		{"no_iat", signTest(t, jwa.RS256, "rsa1", with("iat", nil)), "iat", 0},
		{"iat_future", signTest(t, jwa.RS256, "rsa1", with("iat", now.Add(IDTokenClockSkew+time.Minute).Unix())), "iat", 0},
		{"nbf_future", signTest(t, jwa.RS256, "rsa1", with("nbf", now.Add(IDTokenClockSkew+time.Minute).Unix())), "nbf", 0},
		{"no_nonce", signTest(t, jwa.RS256, "rsa1", with("nonce", nil)), "nonce", 0},
		{"wrong_nonce", signTest(t, jwa.RS256, "rsa1", with("nonce", "nonce-2")), "nonce", 0},
		{"nonce_number", signTest(t, jwa.RS256, "rsa1", with("nonce", 1)), "nonce", 0},
		{"max_age_passed", signTest(t, jwa.RS256, "rsa1", with("auth_time", now.Add(-time.Hour).Unix())), "auth_time", 10 * time.Minute},
		{"max_age_no_auth_time", signTest(t, jwa.RS256, "rsa1", with("auth_time", nil)), "auth_time", 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier(t, now)
			if tt.maxAge > 0 {
				v.maxAge, v.hasMaxAge = tt.maxAge, true
			}
			_, err := v.verify(bg(), tt.token)
			var ie *IDTokenError
			if !errors.As(err, &ie) || ie.Check != tt.check || !errors.Is(err, ErrInvalidIDToken) {
				t.Fatalf("%v, want check %s", err, tt.check)
			}
			if !strings.Contains(err.Error(), tt.check+":") {
				t.Errorf("the error %q does not name the check", err)
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[len(tt.token)-20:]) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
	// Within the skew, a token is accepted.
	if _, err := testVerifier(t, now.Add(time.Hour+IDTokenClockSkew-time.Second)).verify(bg(), good); err != nil {
		t.Errorf("inside the skew: %v", err)
	}
}

func TestIDTokenIssuerTemplate(t *testing.T) {
	tmpl := &endpoints{issuer: "https://login.microsoftonline.com/{tenantid}/v2.0"}
	mustParse := func(s string) authority {
		a, err := parseAuthority(s, false)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const guid = "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
	for _, tt := range []struct {
		authority, tid, want string // want "" for no issuer
	}{
		{"https://login.microsoftonline.com/common", "t1", "https://login.microsoftonline.com/t1/v2.0"},
		{"https://login.microsoftonline.com/organizations", "t2", "https://login.microsoftonline.com/t2/v2.0"},
		// A tenant authority's template stands for its own tenant,
		// whatever tid the token claims.
		{"https://login.microsoftonline.com/" + guid, "t3", "https://login.microsoftonline.com/" + guid + "/v2.0"},
		// A tenant named by domain, or consumers, with a template: no
		// issuer can match (Entra's documents for them name the tenant ID).
		{"https://login.microsoftonline.com/contoso.com", "t3", ""},
		{"https://login.microsoftonline.com/consumers", "t4", ""},
	} {
		got, err := idTokenIssuer(mustParse(tt.authority), tmpl, tt.tid)
		if (tt.want == "") != (err != nil) || got != tt.want {
			t.Errorf("%s with tid %s: %q, %v; want %q", tt.authority, tt.tid, got, err, tt.want)
		}
	}
	doc := &endpoints{issuer: "https://login.microsoftonline.com/{tenantid}/v2.0", tenantID: guid}
	if got, err := idTokenIssuer(mustParse("https://login.microsoftonline.com/contoso.com"), doc, "t5"); err != nil || got != "https://login.microsoftonline.com/"+guid+"/v2.0" {
		t.Errorf("the document's tenant ID: %q, %v", got, err)
	}
	if _, err := idTokenIssuer(mustParse("https://login.microsoftonline.com/common"), &endpoints{}, "t"); err == nil {
		t.Errorf("no issuer in the document is not an error")
	}
}

func FuzzVerifyIDToken(f *testing.F) {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	good := signTest(f, jwa.RS256, "rsa1", goodClaims(now))
	parts := strings.Split(good, ".")
	for _, s := range []string{good, signTest(f, jwa.ES256, "ec1", goodClaims(now)), "", "a.b.c", "..", parts[0] + "." + parts[1] + ".",
		b64url([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", b64url([]byte(`{"alg":"RS256"}`)) + "." + parts[1] + "." + parts[2]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		v := testVerifier(t, now)
		claims, err := v.verify(bg(), tok)
		if err == nil {
			if tok != good && claims["nonce"] != "nonce-1" {
				t.Fatalf("accepted a token without the nonce")
			}
			return
		}
		if !errors.Is(err, ErrInvalidIDToken) {
			t.Fatalf("an error that is not an IDTokenError: %v", err)
		}
		if len(tok) >= 16 && strings.Contains(err.Error(), tok) {
			t.Fatalf("the error quotes the token")
		}
	})
}

func FuzzAuthResponse(f *testing.F) {
	for _, s := range []string{"state=s1&code=c", "state=s1&error=access_denied&error_description=no", "state=s2&code=c", "code=c",
		"state=s1&state=s1&code=c", "state=s1", "state=s1&code=c&code=d", "state=s1&error=x%00y&claims=%7B%7D", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		code, err := authResponse("s1", q)
		if err == nil {
			if q.Get("state") != "s1" || len(q["state"]) != 1 || code == "" || code != q.Get("code") || q.Get("error") != "" {
				t.Fatalf("accepted %q: code %q", raw, code)
			}
			return
		}
		if q.Get("state") != "s1" && !errors.Is(err, ErrStateMismatch) {
			t.Fatalf("a wrong state is not ErrStateMismatch: %v", err)
		}
		if c := q.Get("code"); len(c) >= 8 && strings.Contains(err.Error(), c) {
			t.Fatalf("the error shows the code: %v", err)
		}
	})
}

func FuzzAdminConsentResult(f *testing.F) {
	for _, s := range []string{"state=s1&admin_consent=True&tenant=t1", "state=s1&error=access_denied", "state=s2&admin_consent=True&tenant=t1", "state=s1&admin_consent=True&tenant=common"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := adminConsentResult(AdminConsentRequest{State: "s1"}, q)
		if err == nil && (q.Get("state") != "s1" || !strings.EqualFold(q.Get("admin_consent"), "true") || got.TenantID == "" || !validSegment(got.TenantID)) {
			t.Fatalf("accepted %q: %+v", raw, got)
		}
	})
}

func TestUserFlowsKeepSecretsOutOfLogs(t *testing.T) {
	for _, pii := range []bool{false, true} {
		srv := userServer(t)
		var logs logBuffer
		app := webApp(t, srv, contosoID, WithLogger(logs.logger()), WithPII(pii))
		f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, LoginHint(aliceUser))
		if err != nil {
			t.Fatal(err)
		}
		resp := browse(t, srv, f.AuthURI)
		r, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp)
		if err != nil {
			t.Fatal(err)
		}
		_, reuseErr := app.AcquireTokenByAuthCodeFlow(bg(), f, resp)
		srv.Advance(2 * time.Hour)
		s, _ := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
		p, _ := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, []string{"User.Read"})
		_, pwErr := app.AcquireTokenByUsernamePassword(bg(), aliceUser, "wrong-PASSWORD-000", []string{"User.Read"})
		_, rtErr := app.AcquireTokenByRefreshToken(bg(), "unknown-refresh-token-value", []string{"User.Read"})
		var printed bytes.Buffer
		slog.New(slog.NewTextHandler(&printed, nil)).Info("values", "result", r, "flow", f)
		printed.WriteString(r.String() + f.String() + s.String())
		secrets := []string{resp.Get("code"), f.CodeVerifier, f.Nonce, r.AccessToken, r.RefreshToken, r.IDToken, s.AccessToken, s.RefreshToken,
			p.RefreshToken, alicePass, "wrong-PASSWORD-000", "unknown-refresh-token-value", webSecret}
		all := logs.String() + printed.String() + reuseErr.Error() + pwErr.Error() + rtErr.Error()
		if leaked := secretsIn(all, secrets...); len(leaked) > 0 {
			for _, l := range leaked {
				i := strings.Index(all, l)
				t.Errorf("PII %v: a secret in logs, errors or printed values: ...%s...", pii, all[max(0, i-200):i])
			}
		}
		if strings.Contains(logs.String(), aliceUser) != pii {
			t.Errorf("PII %v: the username in the logs: %v", pii, strings.Contains(logs.String(), aliceUser))
		}
		if !strings.Contains(logs.String(), "auth code flow") {
			t.Errorf("nothing logged")
		}
	}
}

func TestIDTokensVerifiedAgainstOtherAuthorities(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: pubID, Public: true})
	srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass, TenantID: contosoID})
	for _, tt := range []struct {
		name  string
		opt   Option
		kind  string
		realm string
	}{
		{"oidc", WithOIDCAuthority(srv.OIDCIssuer()), AuthorityTypeGeneric, srv.OIDCIssuer()}, // an OIDC authority caches under its issuer
		{"adfs", WithAuthority(srv.ADFSAuthority()), AuthorityTypeADFS, "adfs"},
		{"b2c", WithAuthority(srv.B2CAuthority("contoso.onmicrosoft.com", "B2C_1_ropc")), AuthorityTypeMSSTS, "contoso.onmicrosoft.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := mustPublic(t, pubID, tt.opt, WithHTTPClient(srv.Client()))
			f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, pubRedirect, LoginHint(aliceUser))
			if err != nil {
				t.Fatal(err)
			}
			r, err := app.AcquireTokenByAuthCodeFlow(bg(), f, browse(t, srv, f.AuthURI))
			if err != nil {
				t.Fatal(err)
			}
			if r.Account.AuthorityType != tt.kind || r.Account.TenantID != tt.realm || r.Account.Username != aliceUser {
				t.Errorf("account %#v", r.Account.cacheAccount())
			}
			if s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account); err != nil || !s.FromCache {
				t.Errorf("silent: %+v %v", s, err)
			}
		})
	}
}

func TestIDTokenKeysSharedRefetchedOnRotationAtMostOnceAMinute(t *testing.T) {
	srv := userServer(t)
	app := webApp(t, srv, contosoID)
	userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
	// The web API middleware of the same application uses the same keys.
	api := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), WithAudiences("api://web"))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://web", Subject: aliceUser, Scopes: []string{"x"}, Tenant: contosoID}))
	api.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || srv.CountRequests(authtest.EndpointKeys) != 1 {
		t.Fatalf("middleware: %d, %d key set reads, want 1 shared read", rec.Code, srv.CountRequests(authtest.EndpointKeys))
	}
	// The authority rotates its keys: an ID token with an unknown kid
	// makes the keys be read again, once.
	srv.RotateKeys()
	srv.Advance(2 * time.Minute)
	userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
	if n := srv.CountRequests(authtest.EndpointKeys); n != 2 {
		t.Fatalf("%d key set reads after a rotation, want 2", n)
	}
	// A token naming a key the authority does not publish, within the
	// minute: refused, and the keys are not read again.
	f, _ := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, LoginHint(aliceUser))
	resp := browse(t, srv, f.AuthURI)
	tok := srv.IssueIDToken(authtest.IDTokenSpec{Subject: aliceUser, ClientID: webID, Tenant: contosoID, Nonce: f.Nonce})
	h := headerOf(t, tok)
	h["kid"] = "unpublished-key"
	srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, signRS256(t, h, claimsOf(t, tok)))})
	if _, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp); idTokenCheckOf(err) != "signature" {
		t.Errorf("an unknown kid: %v", err)
	}
	if n := srv.CountRequests(authtest.EndpointKeys); n != 2 {
		t.Errorf("%d key set reads, want no read within the minute", n)
	}
}
