package authtest_test

import (
	"crypto"
	"crypto/elliptic"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

const certClientID = "44444444-aaaa-4bbb-8ccc-000000000004"

func assertionForm(clientID, assertion string) []string {
	return []string{"grant_type", "client_credentials", "client_id", clientID,
		"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"client_assertion", assertion, "scope", "https://graph.microsoft.com/.default"}
}

func TestCertificateAssertion(t *testing.T) {
	srv := newServer(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.SetNow(now)
	key := testRSAKey(t)
	cert := selfSigned(t, key)
	ec := ecKey(t, elliptic.P256())
	ecCert := selfSigned(t, ec)
	other := selfSigned(t, ecKey(t, elliptic.P256()))
	srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert, ecCert}})
	aud := tokenURL(srv, contosoTID)
	s256 := map[string]any{"x5t#S256": x5tS256(cert)}
	s1 := map[string]any{"x5t": x5t(cert)}
	with := func(m map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	tests := []struct {
		name   string
		key    crypto.Signer
		alg    string
		header map[string]any
		claims map[string]any
		tenant string
		status int
		code   string
		aadsts int
	}{
		{"PS256_with_x5t#S256", key, "PS256", s256, assertionClaims(certClientID, aud, now), contosoTID, 200, "", 0},
		{"RS256_with_x5t", key, "RS256", s1, assertionClaims(certClientID, aud, now), contosoTID, 200, "", 0},
		{"audience_with_tenant_domain", key, "PS256", s256, assertionClaims(certClientID, tokenURL(srv, "contoso.com"), now), "contoso.com", 200, "", 0},
		{"audience_tenant_ID_for_domain_request", key, "PS256", s256, assertionClaims(certClientID, aud, now), "contoso.com", 200, "", 0},
		{"audience_array", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "aud", []string{"x", aud}), contosoTID, 200, "", 0},
		{"expired_within_skew", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "exp", now.Add(-4*time.Minute).Unix()), contosoTID, 200, "", 0},
		{"expired", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "exp", now.Add(-6*time.Minute).Unix()), contosoTID, 401, "invalid_client", 700024},
		{"not_yet_valid", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "nbf", now.Add(6*time.Minute).Unix()), contosoTID, 401, "invalid_client", 700024},
		{"no_exp", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "exp", nil), contosoTID, 401, "invalid_client", 50027},
		{"no_jti", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "jti", nil), contosoTID, 401, "invalid_client", 50027},
		{"wrong_audience", key, "PS256", s256, assertionClaims(certClientID, "https://login.microsoftonline.com/"+contosoTID+"/oauth2/v2.0/token", now), contosoTID, 401, "invalid_client", 700023},
		{"v1_endpoint_audience", key, "PS256", s256, assertionClaims(certClientID, srv.Authority(contosoTID)+"/oauth2/token", now), contosoTID, 401, "invalid_client", 700023},
		{"iss_is_another_client", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "iss", appID), contosoTID, 401, "invalid_client", 700021},
		{"sub_differs_from_iss", key, "PS256", s256, with(assertionClaims(certClientID, aud, now), "sub", "someone"), contosoTID, 401, "invalid_client", 50048},
		{"unregistered_certificate", key, "PS256", map[string]any{"x5t#S256": x5tS256(other)}, assertionClaims(certClientID, aud, now), contosoTID, 401, "invalid_client", 700027},
		{"no_thumbprint", key, "PS256", map[string]any{}, assertionClaims(certClientID, aud, now), contosoTID, 401, "invalid_client", 700027},
		{"ES256_header_for_an_RSA_certificate", ec, "ES256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, aud, now), contosoTID, 401, "invalid_client", 5002738},
		{"ES256_refused_by_entra", ec, "ES256", map[string]any{"x5t#S256": x5tS256(ecCert)}, assertionClaims(certClientID, aud, now), contosoTID, 401, "invalid_client", 5002738},
		{"HS256_refused", key, "RS256", s256, assertionClaims(certClientID, aud, now), contosoTID, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "HS256_refused" {
				// An assertion whose header says HS256 (the algorithm
				// confusion attack) is refused whatever its signature.
				a := signJWS(t, key, "RS256", with(s256), assertionClaims(certClientID, aud, now))
				parts := strings.Split(a, ".")
				h := jwtHeader(t, a)
				h["alg"] = "HS256"
				forged := encodeSegment(t, h) + "." + parts[1] + "." + parts[2]
				post(t, srv, tokenURL(srv, contosoTID), form(assertionForm(certClientID, forged)...)).wantError(t, 401, "invalid_client", 5002738)
				return
			}
			a := signJWS(t, tt.key, tt.alg, with(tt.header), tt.claims)
			r := post(t, srv, tokenURL(srv, tt.tenant), form(assertionForm(certClientID, a)...))
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				if c := claims(t, r.str("access_token")); c["azpacr"] != "2" {
					t.Errorf("azpacr = %v, want 2 (certificate)", c["azpacr"])
				}
				return
			}
			r.wantError(t, tt.status, tt.code, tt.aadsts)
		})
	}
	t.Run("signature_does_not_verify", func(t *testing.T) {
		a := strings.Split(signJWS(t, key, "PS256", with(s256), assertionClaims(certClientID, aud, now)), ".")
		b := strings.Split(signJWS(t, key, "PS256", with(s256), assertionClaims(certClientID, aud, now)), ".")
		spliced := a[0] + "." + b[1] + "." + a[2]
		post(t, srv, aud, form(assertionForm(certClientID, spliced)...)).wantError(t, 401, "invalid_client", 700027)
	})
	t.Run("replay_refused", func(t *testing.T) {
		a := signJWS(t, key, "PS256", with(s256), assertionClaims(certClientID, aud, now))
		if r := post(t, srv, aud, form(assertionForm(certClientID, a)...)); r.status != 200 {
			t.Fatalf("first use: %s", r.raw)
		}
		post(t, srv, aud, form(assertionForm(certClientID, a)...)).wantError(t, 401, "invalid_client", 50013)
	})
	t.Run("malformed", func(t *testing.T) {
		for _, bad := range []string{"", "a.b", "a.b.c", "!!!.e30.AA", "e30=.e30.AA", "e30.W10.AA", "bnVsbA.e30.AA"} {
			r := post(t, srv, aud, form(assertionForm(certClientID, bad)...))
			if r.status != 401 || r.str("error") != "invalid_client" {
				t.Errorf("assertion %q: %d %s", bad, r.status, r.raw)
			}
		}
	})
}

func encodeSegment(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestCertificateAssertionOIDCAndADFS(t *testing.T) {
	srv := newServer(t)
	key := testRSAKey(t)
	cert := selfSigned(t, key)
	ec := ecKey(t, elliptic.P384())
	ecCert := selfSigned(t, ec)
	srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert, ecCert}})
	now := srv.Now()
	oidcToken := srv.OIDCIssuer() + "/token"
	adfsToken := srv.ADFSAuthority() + "/oauth2/token"
	tests := []struct {
		name     string
		endpoint string
		key      crypto.Signer
		alg      string
		cert     *x509.Certificate
		aud      string
		ok       bool
	}{
		{"oidc_ES384", oidcToken, ec, "ES384", ecCert, oidcToken, true},
		{"oidc_RS256", oidcToken, key, "RS256", cert, oidcToken, true},
		{"oidc_issuer_as_audience", oidcToken, key, "RS256", cert, srv.OIDCIssuer(), true},
		{"oidc_refuses_PS256", oidcToken, key, "PS256", cert, oidcToken, false},
		{"adfs_RS256", adfsToken, key, "RS256", cert, adfsToken, true},
		{"adfs_refuses_PS256", adfsToken, key, "PS256", cert, adfsToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := signJWS(t, tt.key, tt.alg, map[string]any{"x5t": x5t(tt.cert)}, assertionClaims(certClientID, tt.aud, now))
			f := form(assertionForm(certClientID, a)...)
			f.Set("scope", apiAud+"/.default")
			r := post(t, srv, tt.endpoint, f)
			if tt.ok != (r.status == 200) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tt.ok {
				c := claims(t, r.str("access_token"))
				if _, ok := c["tid"]; ok {
					t.Errorf("%s token has tid", tt.name)
				}
			}
		})
	}
	t.Run("oidc_refuses_client_secret_post", func(t *testing.T) {
		r := post(t, srv, oidcToken, form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", apiAud+"/.default"))
		if r.status != 401 || r.str("error") != "invalid_client" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if _, ok := r.body["error_codes"]; ok {
			t.Errorf("the plain OIDC authority answered Entra's error shape: %s", r.raw)
		}
	})
	t.Run("oidc_accepts_client_secret_basic", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, oidcToken, strings.NewReader(form("grant_type", "client_credentials", "scope", apiAud+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		if r := do(t, srv.Client(), req); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestRegionalAssertionAudience(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	register(srv)
	key := testRSAKey(t)
	cert := selfSigned(t, key)
	srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert}})
	now := srv.Now()
	global := "https://login.microsoftonline.com/" + contosoTID + "/oauth2/v2.0/token"
	regional := "https://westus2.login.microsoft.com/" + contosoTID + "/oauth2/v2.0/token"
	t.Run("global_audience_at_regional_host", func(t *testing.T) {
		a := signJWS(t, key, "PS256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, global, now))
		r := post(t, srv, regional, form(assertionForm(certClientID, a)...))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if c := claims(t, r.str("access_token")); c["iss"] != "https://login.microsoftonline.com/"+contosoTID+"/v2.0" {
			t.Errorf("iss = %v, want the global issuer", c["iss"])
		}
		reqs := srv.RequestsTo(authtest.EndpointToken)
		if got := reqs[len(reqs)-1].Host; got != "westus2.login.microsoft.com" {
			t.Errorf("recorded Host = %q", got)
		}
	})
	t.Run("regional_audience_refused", func(t *testing.T) {
		a := signJWS(t, key, "PS256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, regional, now))
		post(t, srv, regional, form(assertionForm(certClientID, a)...)).wantError(t, 401, "invalid_client", 700023)
	})
	t.Run("other_grants_refused_at_regional_host", func(t *testing.T) {
		r := post(t, srv, regional, form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", alicePass, "scope", "User.Read"))
		r.wantError(t, 400, "invalid_request", 100007)
	})
	t.Run("alias_host_global_audience", func(t *testing.T) {
		a := signJWS(t, key, "PS256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, global, now))
		if r := post(t, srv, "https://login.windows.net/"+contosoTID+"/oauth2/v2.0/token", form(assertionForm(certClientID, a)...)); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestFederatedCredential(t *testing.T) {
	srv := newServer(t)
	ghKey := ecKey(t, elliptic.P256())
	const (
		fedID  = "55555555-aaaa-4bbb-8ccc-000000000005"
		issuer = "https://token.actions.githubusercontent.com"
		sub    = "repo:contoso/app:ref:refs/heads/main"
	)
	srv.AddClient(authtest.Client{ID: fedID, FederatedCredentials: []authtest.FederatedCredential{
		{Issuer: issuer, Subject: sub, Keys: []crypto.PublicKey{ghKey.Public()}},
		{Issuer: srv.Issuer(contosoTID), Subject: "mi-object-id"},
	}})
	now := srv.Now()
	outside := func(kv ...any) string {
		c := map[string]any{"iss": issuer, "sub": sub, "aud": authtest.TokenExchangeAudience, "exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Unix()}
		for i := 0; i+1 < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return signJWS(t, ghKey, "ES256", map[string]any{"kid": "gh"}, c)
	}
	t.Run("accepted_more_than_once", func(t *testing.T) {
		a := outside()
		for i := range 2 {
			if r := post(t, srv, tokenURL(srv, contosoTID), form(assertionForm(fedID, a)...)); r.status != 200 {
				t.Fatalf("use %d: %d %s", i+1, r.status, r.raw)
			}
		}
	})
	t.Run("token_of_this_server", func(t *testing.T) {
		mi := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: authtest.TokenExchangeAudience, ClientID: "mi", Tenant: contosoTID,
			Claims: map[string]any{"sub": "mi-object-id", "iss": srv.Issuer(contosoTID)}})
		if r := post(t, srv, tokenURL(srv, contosoTID), form(assertionForm(fedID, mi)...)); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	tests := []struct {
		name      string
		assertion string
		aadsts    int
	}{
		{"unknown_issuer", outside("iss", "https://elsewhere.example"), 700211},
		{"wrong_audience", outside("aud", "api://other"), 700212},
		{"wrong_subject", outside("sub", "repo:contoso/app:pull_request"), 700213},
		{"expired", outside("exp", now.Add(-time.Hour).Unix()), 700024},
		{"signed_by_another_key", signJWS(t, ecKey(t, elliptic.P256()), "ES256", map[string]any{}, map[string]any{"iss": issuer, "sub": sub, "aud": authtest.TokenExchangeAudience, "exp": now.Add(time.Minute).Unix()}), 700027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			post(t, srv, tokenURL(srv, contosoTID), form(assertionForm(fedID, tt.assertion)...)).wantError(t, 401, "invalid_client", tt.aadsts)
		})
	}
}

// alphabetSensitiveCertificate returns a certificate for key whose SHA-1
// and SHA-256 thumbprints differ between the two base64 alphabets (they
// have characters that encode as '+' or '/': two in the SHA-256 one), so
// a test of both alphabets tests something.
func alphabetSensitiveCertificate(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	for range 500 {
		c := selfSigned(t, key)
		s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
		if strings.ContainsAny(base64.StdEncoding.EncodeToString(s1[:]), "+/") &&
			strings.Count(base64.StdEncoding.EncodeToString(s256[:]), "+")+strings.Count(base64.StdEncoding.EncodeToString(s256[:]), "/") >= 2 {
			return c
		}
	}
	t.Fatal("no certificate whose thumbprints use '+' or '/' in 500 tries")
	return nil
}

// TestCertificateAssertionThumbprintEncodings: Entra reads x5t#S256 and
// x5t in either base64 alphabet, padded or not. MSAL Go writes them with
// standard base64 and padding (its accesstokens.go uses
// base64.StdEncoding); RFC 7515 asks for base64url without padding.
// Thumbprints that do not name the certificate stay refused with
// AADSTS700027.
func TestCertificateAssertionThumbprintEncodings(t *testing.T) {
	srv := newServer(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.SetNow(now)
	key := testRSAKey(t)
	cert := alphabetSensitiveCertificate(t, key)
	other := alphabetSensitiveCertificate(t, key)
	srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert}})
	aud := tokenURL(srv, contosoTID)
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	o256 := sha256.Sum256(other.Raw)
	std256 := base64.StdEncoding.EncodeToString(s256[:])
	// The thumbprint with one character in each alphabet: authtest's
	// choice is to read such a spelling in neither.
	i := strings.IndexAny(std256, "+/")
	mixed := std256[:i] + map[byte]string{'+': "-", '/': "_"}[std256[i]] + std256[i+1:]
	tests := []struct {
		name   string
		header string
		value  string
		alg    string
		ok     bool
	}{
		{"x5t#S256_base64url_unpadded", "x5t#S256", base64.RawURLEncoding.EncodeToString(s256[:]), "PS256", true},
		{"x5t#S256_base64url_padded", "x5t#S256", base64.URLEncoding.EncodeToString(s256[:]), "PS256", true},
		{"x5t#S256_standard_padded_as_MSAL_Go_writes_it", "x5t#S256", std256, "PS256", true},
		{"x5t#S256_standard_unpadded", "x5t#S256", base64.RawStdEncoding.EncodeToString(s256[:]), "PS256", true},
		{"x5t_base64url_unpadded", "x5t", base64.RawURLEncoding.EncodeToString(s1[:]), "RS256", true},
		{"x5t_base64url_padded", "x5t", base64.URLEncoding.EncodeToString(s1[:]), "RS256", true},
		{"x5t_standard_padded", "x5t", base64.StdEncoding.EncodeToString(s1[:]), "RS256", true},
		{"x5t_standard_unpadded", "x5t", base64.RawStdEncoding.EncodeToString(s1[:]), "RS256", true},
		{"another_certificate_standard_padded", "x5t#S256", base64.StdEncoding.EncodeToString(o256[:]), "PS256", false},
		{"alphabets_mixed", "x5t#S256", mixed, "PS256", false},
		{"wrong_padding", "x5t#S256", std256 + "==", "PS256", false},
		{"truncated_digest", "x5t#S256", base64.StdEncoding.EncodeToString(s256[:31]), "PS256", false},
		{"SHA-256_digest_as_x5t", "x5t", std256, "PS256", false},
		{"SHA-1_digest_as_x5t#S256", "x5t#S256", base64.StdEncoding.EncodeToString(s1[:]), "PS256", false},
		{"hex", "x5t#S256", strings.ToUpper(fmt.Sprintf("%x", s256[:])), "PS256", false},
		{"not_base64", "x5t#S256", "!!" + std256[2:], "PS256", false},
		{"whitespace", "x5t#S256", " " + std256, "PS256", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := signJWS(t, key, tt.alg, map[string]any{tt.header: tt.value}, assertionClaims(certClientID, aud, now))
			r := post(t, srv, aud, form(assertionForm(certClientID, a)...))
			if !tt.ok {
				r.wantError(t, 401, "invalid_client", 700027)
				if strings.Contains(r.raw, appSecret) {
					t.Errorf("error body leaks a secret: %s", r.raw)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if c := claims(t, r.str("access_token")); c["azpacr"] != "2" {
				t.Errorf("azpacr = %v, want 2 (certificate)", c["azpacr"])
			}
		})
	}
}
