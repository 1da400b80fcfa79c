package authtest_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func TestTokenEndpointErrors(t *testing.T) {
	srv := newServer(t)
	srv.AddClient(authtest.Client{ID: "no-roles", Secret: "x", Roles: []string{}})
	cc := func(kv ...string) url.Values {
		f := form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", "https://graph.microsoft.com/.default")
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   string
		aadsts int
	}{
		{"missing_grant_type", contosoTID, cc("grant_type", ""), 400, "invalid_request", 900144},
		{"unsupported_grant_type", contosoTID, cc("grant_type", "magic"), 400, "unsupported_grant_type", 70003},
		{"missing_client_id", contosoTID, cc("client_id", ""), 400, "invalid_request", 900144},
		{"unknown_client", contosoTID, cc("client_id", "nobody"), 400, "unauthorized_client", 700016},
		{"wrong_secret", contosoTID, cc("client_secret", "wrong"), 401, "invalid_client", 7000215},
		{"no_credential", contosoTID, cc("client_secret", ""), 401, "invalid_client", 7000218},
		{"public_client_with_secret", contosoTID, cc("client_id", publicID), 401, "invalid_client", 700025},
		{"public_client_without_secret", contosoTID, cc("client_id", publicID, "client_secret", ""), 401, "invalid_client", 7000218},
		{"common_refuses_client_credentials", "common", cc(), 400, "invalid_request", 50059},
		{"organizations_refuses_client_credentials", "organizations", cc(), 400, "invalid_request", 50059},
		{"missing_scope", contosoTID, cc("scope", ""), 400, "invalid_request", 900144},
		{"scope_without_default", contosoTID, cc("scope", "https://graph.microsoft.com/User.Read"), 400, "invalid_scope", 1002012},
		{"only_openid_scopes", contosoTID, cc("scope", "openid profile offline_access"), 400, "invalid_scope", 1002012},
		{"two_scopes", contosoTID, cc("scope", "https://graph.microsoft.com/.default api://orders/.default"), 400, "invalid_scope", 1002012},
		{"unknown_resource", contosoTID, cc("scope", "api://nothing/.default"), 400, "invalid_resource", 500011},
		{"claims_not_json", contosoTID, cc("claims", "{not json"), 400, "invalid_request", 90100},
		{"client_assertion_type_missing", contosoTID, cc("client_secret", "", "client_assertion", "a.b.c"), 400, "invalid_request", 900144},
		{"two_authentication_methods", contosoTID, cc("client_assertion", "a.b.c", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), 400, "invalid_request", 90023},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, tokenURL(srv, tt.tenant), tt.form)
			r.wantError(t, tt.status, tt.code, tt.aadsts)
		})
	}
}

func TestTokenEndpointErrorShape(t *testing.T) {
	srv := newServer(t)
	req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(form("grant_type", "client_credentials", "client_id", appID, "client_secret", "bad", "scope", "https://graph.microsoft.com/.default").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "5f8c7a8e-0000-4000-8000-000000000001")
	r := do(t, srv.Client(), req)
	r.wantError(t, 401, "invalid_client", 7000215)
	for _, k := range []string{"timestamp", "trace_id", "correlation_id", "error_uri"} {
		if r.str(k) == "" {
			t.Errorf("error response has no %s: %s", k, r.raw)
		}
	}
	if got := r.str("correlation_id"); got != "5f8c7a8e-0000-4000-8000-000000000001" {
		t.Errorf("correlation_id = %q, want the client-request-id echoed", got)
	}
	desc := r.str("error_description")
	for _, part := range []string{"\r\nTrace ID: " + r.str("trace_id"), "\r\nCorrelation ID: " + r.str("correlation_id"), "\r\nTimestamp: " + r.str("timestamp")} {
		if !strings.Contains(desc, part) {
			t.Errorf("error_description lacks %q: %q", part, desc)
		}
	}
	if _, err := time.Parse("2006-01-02 15:04:05Z", r.str("timestamp")); err != nil {
		t.Errorf("timestamp %q is not in Entra's layout: %v", r.str("timestamp"), err)
	}
	if !strings.HasSuffix(r.str("error_uri"), "/error?code=7000215") {
		t.Errorf("error_uri = %q", r.str("error_uri"))
	}
	if got := r.header.Get("Cache-Control"); !strings.Contains(got, "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func TestTokenEndpointMethodAndBody(t *testing.T) {
	srv := newServer(t)
	t.Run("GET_is_refused", func(t *testing.T) {
		get(t, srv, tokenURL(srv, contosoTID)).wantError(t, 400, "invalid_request", 900561)
	})
	t.Run("JSON_body_is_not_a_form", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(`{"grant_type":"client_credentials"}`))
		req.Header.Set("Content-Type", "application/json")
		do(t, srv.Client(), req).wantError(t, 400, "invalid_request", 900144)
	})
	t.Run("oversized_form", func(t *testing.T) {
		body := "grant_type=client_credentials&pad=" + strings.Repeat("a", 2<<20)
		req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		do(t, srv.Client(), req).wantError(t, 400, "invalid_request", 90023)
	})
}

func TestClientCredentials(t *testing.T) {
	srv := newServer(t)
	t.Run("secret_in_form", func(t *testing.T) {
		r := appToken(t, srv, "https://graph.microsoft.com/.default")
		if r.str("token_type") != "Bearer" || r.num("expires_in") != 3600 || r.num("ext_expires_in") != 3600 {
			t.Errorf("response = %s", r.raw)
		}
		for _, k := range []string{"scope", "refresh_token", "id_token", "refresh_in", "client_info"} {
			if _, ok := r.body[k]; ok {
				t.Errorf("client credentials response has %s: %s", k, r.raw)
			}
		}
		c := claims(t, r.str("access_token"))
		if c["aud"] != "https://graph.microsoft.com" || c["tid"] != contosoTID || c["appid"] != appID || c["azp"] != appID || c["idtyp"] != "app" || c["azpacr"] != "1" {
			t.Errorf("claims = %v", c)
		}
		if c["iss"] != srv.Issuer(contosoTID) {
			t.Errorf("iss = %v, want %s", c["iss"], srv.Issuer(contosoTID))
		}
		if _, ok := c["scp"]; ok {
			t.Errorf("app-only token has scp: %v", c)
		}
		if !slices.Equal(toStrings(c["roles"]), []string{"User.Read.All", "Mail.Read"}) {
			t.Errorf("roles = %v, want every Graph role (Client.Roles is nil)", c["roles"])
		}
		if _, err := srv.Verify(r.str("access_token")); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})
	t.Run("secret_with_basic_authentication", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(form("grant_type", "client_credentials", "scope", apiAud+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(appID), url.QueryEscape(appSecret))
		r := do(t, srv.Client(), req)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if c := claims(t, r.str("access_token")); c["aud"] != apiAud {
			t.Errorf("aud = %v", c["aud"])
		}
	})
	t.Run("basic_client_id_differs_from_form", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, tokenURL(srv, contosoTID), strings.NewReader(form("grant_type", "client_credentials", "client_id", publicID, "scope", apiAud+"/.default").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(appID, appSecret)
		do(t, srv.Client(), req).wantError(t, 400, "invalid_request", 90023)
	})
	t.Run("granted_roles_only", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "reader", Secret: "r", Roles: []string{"Orders.Read.All", "User.Read.All"}})
		r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "client_credentials", "client_id", "reader", "client_secret", "r", "scope", apiAud+"/.default"))
		if got := toStrings(claims(t, r.str("access_token"))["roles"]); !slices.Equal(got, []string{"Orders.Read.All"}) {
			t.Errorf("roles = %v, want [Orders.Read.All]", got)
		}
	})
	t.Run("no_roles_granted", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "none", Secret: "n", Roles: []string{}})
		r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "client_credentials", "client_id", "none", "client_secret", "n", "scope", apiAud+"/.default"))
		if _, ok := claims(t, r.str("access_token"))["roles"]; ok {
			t.Errorf("token has roles though none were granted")
		}
	})
	t.Run("openid_scopes_ignored_as_entra_does", func(t *testing.T) {
		// MSAL Go sends "openid offline_access profile" with client
		// credentials too; Entra ignores them there.
		r := appToken(t, srv, "openid offline_access profile https://graph.microsoft.com/.default")
		if c := claims(t, r.str("access_token")); c["aud"] != "https://graph.microsoft.com" {
			t.Errorf("aud = %v", c["aud"])
		}
		if _, ok := r.body["refresh_token"]; ok {
			t.Errorf("client credentials response has a refresh token: %s", r.raw)
		}
	})
	t.Run("api_by_app_id_uri_alias", func(t *testing.T) {
		r := appToken(t, srv, authtest.GraphAppID+"/.default")
		if c := claims(t, r.str("access_token")); c["aud"] != authtest.GraphAudience {
			t.Errorf("aud = %v", c["aud"])
		}
	})
	t.Run("capabilities_from_claims", func(t *testing.T) {
		r := appToken(t, srv, "https://graph.microsoft.com/.default", "claims", `{"access_token":{"xms_cc":{"values":["cp1"]}}}`)
		if got := toStrings(claims(t, r.str("access_token"))["xms_cc"]); !slices.Equal(got, []string{"cp1"}) {
			t.Errorf("xms_cc = %v", got)
		}
	})
	t.Run("tenant_by_domain", func(t *testing.T) {
		r := post(t, srv, tokenURL(srv, "contoso.com"), form("grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", apiAud+"/.default"))
		if c := claims(t, r.str("access_token")); c["tid"] != contosoTID {
			t.Errorf("tid = %v, want contoso.com's tenant %s (alice's home)", c["tid"], contosoTID)
		}
	})
}

func TestTokenLifetime(t *testing.T) {
	srv := newServer(t, authtest.WithTokenLifetime(24*time.Hour))
	now := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	srv.SetNow(now)
	r := appToken(t, srv, "https://graph.microsoft.com/.default")
	if r.num("expires_in") != 86400 || r.num("refresh_in") != 43200 {
		t.Errorf("expires_in/refresh_in = %v/%v, want 86400/43200: %s", r.num("expires_in"), r.num("refresh_in"), r.raw)
	}
	c := claims(t, r.str("access_token"))
	if c["iat"] != float64(now.Unix()) || c["nbf"] != float64(now.Unix()) || c["exp"] != float64(now.Add(24*time.Hour).Unix()) {
		t.Errorf("iat/nbf/exp = %v/%v/%v, want the server clock", c["iat"], c["nbf"], c["exp"])
	}
}

// TestTokenRefreshIn checks refresh_in with WithTokenRefreshIn: sent
// with short-lived tokens, in whole seconds (at least one), never as long
// as the lifetime, and in place of half of a long lifetime.
func TestTokenRefreshIn(t *testing.T) {
	tests := []struct {
		name          string
		opts          []authtest.Option
		wantExpiresIn float64
		wantRefreshIn float64 // 0: no refresh_in
	}{
		{"short_lifetime_none_by_default", []authtest.Option{authtest.WithTokenLifetime(2 * time.Second)}, 2, 0},
		{"short_lifetime_with_option", []authtest.Option{authtest.WithTokenLifetime(2 * time.Second), authtest.WithTokenRefreshIn(time.Second)}, 2, 1},
		{"sub_second_rounds_up_to_one", []authtest.Option{authtest.WithTokenLifetime(2 * time.Second), authtest.WithTokenRefreshIn(time.Millisecond)}, 2, 1},
		{"not_shorter_than_lifetime_ignored", []authtest.Option{authtest.WithTokenLifetime(2 * time.Second), authtest.WithTokenRefreshIn(2 * time.Second)}, 2, 0},
		{"overrides_half_of_long_lifetime", []authtest.Option{authtest.WithTokenLifetime(4 * time.Hour), authtest.WithTokenRefreshIn(time.Hour)}, 14400, 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts...)
			r := appToken(t, srv, "https://graph.microsoft.com/.default")
			if r.num("expires_in") != tt.wantExpiresIn || r.num("refresh_in") != tt.wantRefreshIn {
				t.Errorf("expires_in/refresh_in = %v/%v, want %v/%v: %s", r.num("expires_in"), r.num("refresh_in"), tt.wantExpiresIn, tt.wantRefreshIn, r.raw)
			}
		})
	}
}

func TestPasswordGrant(t *testing.T) {
	srv := newServer(t)
	ok := form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", alicePass, "scope", "User.Read openid profile offline_access", "client_info", "1")
	t.Run("tokens", func(t *testing.T) {
		r := post(t, srv, tokenURL(srv, "organizations"), ok)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r.str("scope") != "User.Read profile openid" {
			t.Errorf("scope = %q", r.str("scope"))
		}
		if r.str("refresh_token") == "" || r.str("id_token") == "" || r.str("foci") != "1" {
			t.Errorf("missing refresh_token, id_token or foci: %s", r.raw)
		}
		at := claims(t, r.str("access_token"))
		if at["scp"] != "User.Read" || at["preferred_username"] != aliceName || at["tid"] != contosoTID || at["idtyp"] != "user" {
			t.Errorf("access token claims = %v", at)
		}
		id := claims(t, r.str("id_token"))
		if id["aud"] != publicID || id["tid"] != contosoTID || id["preferred_username"] != aliceName || id["iss"] != srv.Issuer(contosoTID) || id["oid"] != at["oid"] {
			t.Errorf("id token claims = %v", id)
		}
		if id["sub"] == at["sub"] && id["sub"] == "" {
			t.Errorf("sub missing")
		}
		ci := decodeClientInfo(t, r.str("client_info"))
		if ci["uid"] != at["oid"] || ci["utid"] != contosoTID {
			t.Errorf("client_info = %v", ci)
		}
	})
	tests := []struct {
		name   string
		tenant string
		change []string
		status int
		code   string
		aadsts int
		sub    string
	}{
		{"wrong_password", contosoTID, []string{"password", "nope"}, 400, "invalid_grant", 50126, ""},
		{"unknown_user", contosoTID, []string{"username", "carol@contoso.com"}, 400, "invalid_grant", 50034, ""},
		{"user_not_in_tenant", "fabrikam.com", nil, 400, "invalid_grant", 50034, ""},
		{"common_refused", "common", nil, 400, "invalid_request", 9001023, ""},
		{"consumers_refused", "consumers", nil, 400, "invalid_request", 9001023, ""},
		{"mfa_required", contosoTID, []string{"username", bobName, "password", bobPass}, 400, "invalid_grant", 50076, "basic_action"},
		{"missing_password", contosoTID, []string{"password", ""}, 400, "invalid_request", 900144, ""},
		{"unknown_scope", contosoTID, []string{"scope", "Files.ReadWrite.Everything"}, 400, "invalid_scope", 70011, ""},
		{"two_resources", contosoTID, []string{"scope", "User.Read api://orders/Orders.Read"}, 400, "invalid_scope", 700022, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cloneForm(ok)
			for i := 0; i+1 < len(tt.change); i += 2 {
				f.Set(tt.change[i], tt.change[i+1])
			}
			r := post(t, srv, tokenURL(srv, tt.tenant), f)
			r.wantError(t, tt.status, tt.code, tt.aadsts)
			if r.str("suberror") != tt.sub {
				t.Errorf("suberror = %q, want %q", r.str("suberror"), tt.sub)
			}
		})
	}
	t.Run("consent_required", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "needs-consent", Public: true, RequireConsent: true})
		f := cloneForm(ok)
		f.Set("client_id", "needs-consent")
		r := post(t, srv, tokenURL(srv, contosoTID), f)
		r.wantError(t, 400, "invalid_grant", 65001)
		if r.str("suberror") != "consent_required" {
			t.Errorf("suberror = %q", r.str("suberror"))
		}
	})
}

func TestRefreshTokenGrant(t *testing.T) {
	srv := newServer(t)
	first := passwordToken(t, srv, publicID, "User.Read offline_access")
	rt := first.str("refresh_token")
	refresh := func(clientID, token, scope string) response {
		return post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "refresh_token", "client_id", clientID, "refresh_token", token, "scope", scope))
	}
	t.Run("new_refresh_token_old_stays_valid", func(t *testing.T) {
		r := refresh(publicID, rt, "User.Read offline_access")
		if r.status != 200 || r.str("refresh_token") == "" || r.str("refresh_token") == rt {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if r2 := refresh(publicID, rt, "User.Read"); r2.status != 200 {
			t.Fatalf("old refresh token refused: %s", r2.raw)
		}
	})
	t.Run("other_resource", func(t *testing.T) {
		r := refresh(publicID, rt, apiAud+"/Orders.Read offline_access")
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		c := claims(t, r.str("access_token"))
		if c["aud"] != apiAud || c["scp"] != "Orders.Read" || r.str("scope") != apiAud+"/Orders.Read" {
			t.Errorf("aud %v scp %v scope %q", c["aud"], c["scp"], r.str("scope"))
		}
	})
	t.Run("family_member", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "sibling", Public: true, FamilyID: "1"})
		if r := refresh("sibling", rt, "User.Read"); r.status != 200 || r.str("foci") != "1" {
			t.Fatalf("family refresh: %d %s", r.status, r.raw)
		}
	})
	t.Run("other_client", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "stranger", Public: true})
		refresh("stranger", rt, "User.Read").wantError(t, 400, "invalid_grant", 70000)
	})
	t.Run("unknown_token", func(t *testing.T) {
		refresh(publicID, "not-a-refresh-token", "User.Read").wantError(t, 400, "invalid_grant", 9002313)
	})
	t.Run("revoked", func(t *testing.T) {
		srv2 := newServer(t)
		rt2 := passwordToken(t, srv2, publicID, "User.Read offline_access").str("refresh_token")
		srv2.Advance(time.Second)
		srv2.RevokeRefreshTokens(aliceName)
		r := post(t, srv2, tokenURL(srv2, contosoTID), form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rt2, "scope", "User.Read"))
		r.wantError(t, 400, "invalid_grant", 50173)
		// A refresh token issued after the revocation works.
		rt3 := passwordToken(t, srv2, publicID, "User.Read offline_access").str("refresh_token")
		if r := post(t, srv2, tokenURL(srv2, contosoTID), form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rt3, "scope", "User.Read")); r.status != 200 {
			t.Fatalf("new refresh token refused: %s", r.raw)
		}
	})
	t.Run("expired", func(t *testing.T) {
		srv2 := newServer(t, authtest.WithRefreshTokenLifetime(24*time.Hour))
		rt2 := passwordToken(t, srv2, publicID, "User.Read offline_access").str("refresh_token")
		srv2.Advance(25 * time.Hour)
		post(t, srv2, tokenURL(srv2, contosoTID), form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rt2, "scope", "User.Read")).
			wantError(t, 400, "invalid_grant", 700082)
	})
	t.Run("strict_rotation", func(t *testing.T) {
		srv2 := newServer(t)
		srv2.AddClient(authtest.Client{ID: "strict", Public: true, StrictRotation: true})
		rt2 := passwordToken(t, srv2, "strict", "User.Read offline_access").str("refresh_token")
		ref := func(tok string) response {
			return post(t, srv2, tokenURL(srv2, contosoTID), form("grant_type", "refresh_token", "client_id", "strict", "refresh_token", tok, "scope", "User.Read"))
		}
		r := ref(rt2)
		if r.status != 200 {
			t.Fatal(r.raw)
		}
		ref(rt2).wantError(t, 400, "invalid_grant", 70000)
		if r2 := ref(r.str("refresh_token")); r2.status != 200 {
			t.Fatalf("rotated refresh token refused: %s", r2.raw)
		}
	})
	t.Run("missing_refresh_token", func(t *testing.T) {
		refresh(publicID, "", "User.Read").wantError(t, 400, "invalid_request", 900144)
	})
}

func TestOnBehalfOf(t *testing.T) {
	srv := newServer(t)
	// The middle tier exposes api://orders; its client ID is the API's AppID.
	const midID = "33333333-aaaa-4bbb-8ccc-000000000003"
	srv.AddAPI(authtest.API{Audience: "api://middle", AppID: midID, Scopes: []string{"access_as_user"}})
	srv.AddClient(authtest.Client{ID: midID, Secret: "mid-secret"})
	userTok := passwordToken(t, srv, publicID, "api://middle/access_as_user").str("access_token")
	obo := func(assertion string, kv ...string) response {
		f := form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id", midID, "client_secret", "mid-secret",
			"assertion", assertion, "requested_token_use", "on_behalf_of", "scope", "https://graph.microsoft.com/User.Read offline_access openid")
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return post(t, srv, tokenURL(srv, contosoTID), f)
	}
	t.Run("tokens_for_the_user", func(t *testing.T) {
		r := obo(userTok)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		c := claims(t, r.str("access_token"))
		if c["aud"] != authtest.GraphAudience || c["preferred_username"] != aliceName || c["appid"] != midID || c["scp"] != "User.Read" {
			t.Errorf("claims = %v", c)
		}
		if r.str("refresh_token") == "" {
			t.Errorf("no refresh token for offline_access")
		}
	})
	t.Run("assertion_for_another_api", func(t *testing.T) {
		other := passwordToken(t, srv, publicID, "User.Read").str("access_token")
		obo(other).wantError(t, 400, "invalid_grant", 50013)
	})
	t.Run("app_only_assertion", func(t *testing.T) {
		app := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://middle", Roles: []string{"x"}})
		obo(app).wantError(t, 400, "invalid_grant", 50013)
	})
	t.Run("expired_assertion", func(t *testing.T) {
		old := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://middle", Subject: aliceName, Scopes: []string{"access_as_user"}, IssuedAt: srv.Now().Add(-2 * time.Hour)})
		obo(old).wantError(t, 400, "invalid_grant", 500133)
	})
	t.Run("forged_assertion", func(t *testing.T) {
		parts := strings.Split(userTok, ".")
		obo(parts[0]+"."+parts[1]+".AAAA").wantError(t, 400, "invalid_grant", 50013)
	})
	t.Run("malformed_assertion", func(t *testing.T) {
		obo("not-a-jwt").wantError(t, 400, "invalid_grant", 50027)
	})
	t.Run("missing_requested_token_use", func(t *testing.T) {
		obo(userTok, "requested_token_use", "").wantError(t, 400, "invalid_request", 900144)
	})
	t.Run("public_client", func(t *testing.T) {
		f := form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id", publicID,
			"assertion", userTok, "requested_token_use", "on_behalf_of", "scope", "User.Read")
		post(t, srv, tokenURL(srv, contosoTID), f).wantError(t, 401, "invalid_client", 7000218)
	})
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func cloneForm(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// TestDelegatedResponseScope: the scope of a delegated token response is
// Entra's: each granted scope spelled with the resource prefix the request
// used, OpenID Connect scopes for Microsoft Graph only, and a requested
// resource/.default echoed last (MSAL Go fails a call whose requested
// scopes are not all in the answer: "declined scopes are present"; see
// responseScope in scopes.go for the recorded Entra answers).
func TestDelegatedResponseScope(t *testing.T) {
	srv := newServer(t)
	const midID = "33333333-aaaa-4bbb-8ccc-000000000003"
	const ordersID = "55555555-aaaa-4bbb-8ccc-000000000005"
	srv.AddAPI(authtest.API{Audience: "api://middle", AppID: midID, Scopes: []string{"access_as_user"}})
	srv.AddAPI(authtest.API{Audience: "api://downstream", AppID: ordersID, Scopes: []string{"read", "write"}})
	srv.AddClient(authtest.Client{ID: midID, Secret: "mid-secret"})
	graphAll := "https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.ReadBasic.All https://graph.microsoft.com/User.Read.All " +
		"https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Calendars.Read"
	tests := []struct {
		scope, want, scp string
	}{
		{"api://downstream/.default", "api://downstream/read api://downstream/write api://downstream/.default", "read write"},
		{"api://downstream/.default openid profile offline_access", "api://downstream/read api://downstream/write api://downstream/.default", "read write"},
		{"API://Downstream/.DEFAULT", "API://Downstream/read API://Downstream/write API://Downstream/.DEFAULT", "read write"},
		{"api://" + ordersID + "/.default", "api://" + ordersID + "/read api://" + ordersID + "/write api://" + ordersID + "/.default", "read write"},
		{ordersID + "/.default", ordersID + "/read " + ordersID + "/write " + ordersID + "/.default", "read write"},
		{"api://downstream/READ openid", "api://downstream/read", "read"},
		{"api://downstream/read api://" + ordersID + "/write", "api://downstream/read api://" + ordersID + "/write", "read write"},
		{"https://graph.microsoft.com/.default openid profile offline_access", graphAll + " profile openid https://graph.microsoft.com/.default", "User.Read User.ReadBasic.All User.Read.All Mail.Read Mail.Send Calendars.Read"},
		{"https://graph.microsoft.com/user.read", "https://graph.microsoft.com/User.Read", "User.Read"},
		{"User.Read openid profile", "User.Read profile openid", "User.Read"},
		{"User.Read https://graph.microsoft.com/Mail.Read email", "User.Read https://graph.microsoft.com/Mail.Read email", "User.Read Mail.Read"},
	}
	for _, tt := range tests {
		t.Run("password/"+tt.scope, func(t *testing.T) {
			r := passwordToken(t, srv, publicID, tt.scope)
			if got := r.str("scope"); got != tt.want {
				t.Errorf("scope = %q\nwant    %q", got, tt.want)
			}
			if c := claims(t, r.str("access_token")); c["scp"] != tt.scp {
				t.Errorf("scp = %v, want %q (no .default, no prefix)", c["scp"], tt.scp)
			}
		})
	}
	userTok := passwordToken(t, srv, publicID, "api://middle/access_as_user").str("access_token")
	for _, tt := range tests[:2] {
		t.Run("on_behalf_of/"+tt.scope, func(t *testing.T) {
			r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer",
				"client_id", midID, "client_secret", "mid-secret", "assertion", userTok, "requested_token_use", "on_behalf_of", "scope", tt.scope))
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if got := r.str("scope"); got != tt.want {
				t.Errorf("scope = %q\nwant    %q", got, tt.want)
			}
		})
	}
	t.Run("refresh_token/.default", func(t *testing.T) {
		rt := passwordToken(t, srv, publicID, "User.Read offline_access").str("refresh_token")
		r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rt,
			"scope", "api://downstream/.default offline_access openid profile"))
		if r.status != 200 || r.str("scope") != tests[0].want {
			t.Errorf("%d scope %q, want %q", r.status, r.str("scope"), tests[0].want)
		}
	})
	t.Run(".default_with_a_named_scope_refused", func(t *testing.T) {
		for _, scope := range []string{"api://downstream/.default api://downstream/read", "https://graph.microsoft.com/.default User.Read"} {
			r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "password", "client_id", publicID,
				"username", aliceName, "password", alicePass, "scope", scope))
			r.wantError(t, 400, "invalid_scope", 70011)
		}
	})
}
