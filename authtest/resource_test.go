package authtest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// challengeParams parses a Bearer challenge of the simple quoted form the
// server sends.
func challengeParams(t *testing.T, h string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(h, "Bearer ") {
		t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", h)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(h, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func decodeClaimsParam(t *testing.T, s string) map[string]any {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResourceTokenValidation(t *testing.T) {
	srv := newServer(t)
	me := srv.URL + "/v1.0/me"
	good := passwordToken(t, srv, publicID, "User.Read").str("access_token")
	t.Run("no_token", func(t *testing.T) {
		r := callResource(t, srv, "GET", me, "", "")
		p := challengeParams(t, r.header.Get("WWW-Authenticate"))
		if r.status != 401 || p["client_id"] != authtest.GraphAppID || p["error"] != "" || !strings.HasSuffix(p["authorization_uri"], "/oauth2/authorize") {
			t.Errorf("%d %v", r.status, p)
		}
		if _, ok := p["realm"]; !ok {
			t.Errorf("no realm: %v", p)
		}
	})
	tests := []struct {
		name string
		tok  string
	}{
		{"garbage", "not-a-token"},
		{"bad_signature", good[:len(good)-4] + "AAAA"},
		{"other_audience", appToken(t, srv, apiAud+"/.default").str("access_token")},
		{"expired", srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: aliceName, Scopes: []string{"User.Read"}, IssuedAt: srv.Now().Add(-2 * time.Hour)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callResource(t, srv, "GET", me, tt.tok, "")
			p := challengeParams(t, r.header.Get("WWW-Authenticate"))
			if r.status != 401 || p["error"] != "invalid_token" {
				t.Errorf("%d %v %s", r.status, p, r.raw)
			}
			if code := r.body["error"].(map[string]any)["code"]; code != "InvalidAuthenticationToken" {
				t.Errorf("Graph error code = %v", code)
			}
		})
	}
	t.Run("expires_on_the_server_clock", func(t *testing.T) {
		if r := callResource(t, srv, "GET", me, good, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		srv.Advance(time.Hour)
		if r := callResource(t, srv, "GET", me, good, ""); r.status != 401 {
			t.Errorf("an hour later: %d, want 401", r.status)
		}
	})
}

func TestGraphRoutes(t *testing.T) {
	srv := newServer(t)
	srv.AddUser(authtest.User{Username: "eve@fabrikam.com", TenantID: "9e9e9e9e-0000-4000-8000-000000000000"})
	user := passwordToken(t, srv, publicID, "User.Read Mail.Read").str("access_token")
	userAll := passwordToken(t, srv, publicID, "User.Read.All").str("access_token")
	app := appToken(t, srv, "https://graph.microsoft.com/.default").str("access_token")
	srv.AddClient(authtest.Client{ID: "weak", Secret: "w", Roles: []string{}})
	weak := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "client_credentials", "client_id", "weak", "client_secret", "w", "scope", "https://graph.microsoft.com/.default")).str("access_token")
	bobOID := srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: bobName}) // to learn nothing; bob's oid below
	_ = bobOID
	tests := []struct {
		name   string
		path   string
		tok    string
		status int
		check  func(t *testing.T, r response)
	}{
		{"me", "/v1.0/me", user, 200, func(t *testing.T, r response) {
			if r.str("userPrincipalName") != aliceName || r.str("id") == "" || r.str("displayName") != "alice" {
				t.Errorf("%s", r.raw)
			}
		}},
		{"me_app_only", "/v1.0/me", app, 400, nil},
		{"users_app_role", "/v1.0/users", app, 200, func(t *testing.T, r response) {
			v := r.body["value"].([]any)
			if len(v) != 2 || v[0].(map[string]any)["userPrincipalName"] != aliceName {
				t.Errorf("users of the tenant: %s", r.raw)
			}
		}},
		{"users_delegated_all", "/v1.0/users", userAll, 200, nil},
		{"users_delegated_user_read", "/v1.0/users", user, 403, nil},
		{"users_without_role", "/v1.0/users", weak, 403, nil},
		{"user_by_upn", "/v1.0/users/" + bobName, app, 200, func(t *testing.T, r response) {
			if r.str("userPrincipalName") != bobName {
				t.Errorf("%s", r.raw)
			}
		}},
		{"self_by_upn", "/v1.0/users/" + aliceName, user, 200, nil},
		{"other_tenant_user", "/v1.0/users/eve@fabrikam.com", app, 404, nil},
		{"my_messages", "/v1.0/me/messages?$top=2", user, 200, func(t *testing.T, r response) {
			v := r.body["value"].([]any)
			if len(v) != 2 || v[0].(map[string]any)["subject"] != "Message 5" || v[1].(map[string]any)["subject"] != "Message 4" {
				t.Errorf("messages: %s", r.raw)
			}
		}},
		{"all_messages", "/v1.0/users/" + aliceName + "/messages", app, 200, func(t *testing.T, r response) {
			v := r.body["value"].([]any)
			if len(v) != 5 {
				t.Errorf("%d messages, want 5", len(v))
			}
			prev := "9999"
			for _, m := range v {
				d := m.(map[string]any)["receivedDateTime"].(string)
				if d >= prev {
					t.Errorf("messages not newest first: %s after %s", d, prev)
				}
				prev = d
			}
		}},
		{"other_users_messages_delegated", "/v1.0/users/" + bobName + "/messages", user, 403, nil},
		{"bad_top", "/v1.0/me/messages?$top=abc", user, 400, nil},
		{"zero_top", "/v1.0/me/messages?$top=0", user, 400, nil},
		{"unknown_route", "/v1.0/groups", app, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callResource(t, srv, "GET", srv.URL+tt.path, tt.tok, "")
			if r.status != tt.status {
				t.Fatalf("%d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestResourceEcho(t *testing.T) {
	srv := newServer(t)
	tok := appToken(t, srv, apiAud+"/.default").str("access_token")
	r := callResource(t, srv, "POST", srv.URL+"/resource/orders?x=1", tok, `{"id":7}`)
	if r.status != 200 || r.str("body") != `{"id":7}` || r.str("aud") != apiAud || r.str("path") != "/resource/orders" || r.str("method") != "POST" || r.str("appid") != appID {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	t.Run("form_body_echoed", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/resource/form", strings.NewReader("a=1&b=2"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := do(t, srv.Client(), req); r.str("body") != "a=1&b=2" {
			t.Errorf("echoed body %q", r.str("body"))
		}
	})
	t.Run("mounted_elsewhere", func(t *testing.T) {
		ts := httptest.NewServer(srv.Resource())
		defer ts.Close()
		req, _ := http.NewRequest("GET", ts.URL+"/anything", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r := do(t, ts.Client(), req)
		if r.status != 200 || r.str("path") != "/anything" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
}

func TestRevokeCAE(t *testing.T) {
	srv := newServer(t)
	now := time.Date(2030, 3, 1, 8, 0, 0, 0, time.UTC)
	srv.SetNow(now)
	cp1 := `{"access_token":{"xms_cc":{"values":["cp1"]}}}`
	caeTok := appToken(t, srv, "https://graph.microsoft.com/.default", "claims", cp1).str("access_token")
	plainTok := appToken(t, srv, "https://graph.microsoft.com/.default").str("access_token")
	users := srv.URL + "/v1.0/users"
	srv.Revoke(appID)
	r := callResource(t, srv, "GET", users, caeTok, "")
	p := challengeParams(t, r.header.Get("WWW-Authenticate"))
	if r.status != 401 || p["error"] != "insufficient_claims" || p["client_id"] != authtest.GraphAppID {
		t.Fatalf("%d %v", r.status, p)
	}
	if p["authorization_uri"] != srv.Authority(contosoTID)+"/oauth2/authorize" {
		t.Errorf("authorization_uri = %q", p["authorization_uri"])
	}
	c := decodeClaimsParam(t, p["claims"])
	nbf := c["access_token"].(map[string]any)["nbf"].(map[string]any)
	if nbf["essential"] != true || nbf["value"] != "1898582400" {
		t.Errorf("claims = %v, want nbf %d", c, now.Unix())
	}
	if r := callResource(t, srv, "GET", users, plainTok, ""); r.status != 200 {
		t.Errorf("a token without cp1 was challenged: %d (Graph evaluates CAE for cp1 clients only)", r.status)
	}
	// The client asks again with the challenge's claims (and its
	// capabilities); the new token passes, though the clock stood still.
	merged := `{"access_token":{"nbf":{"essential":true,"value":"1898582400"},"xms_cc":{"values":["cp1"]}}}`
	fresh := appToken(t, srv, "https://graph.microsoft.com/.default", "claims", merged).str("access_token")
	if r := callResource(t, srv, "GET", users, fresh, ""); r.status != 200 {
		t.Fatalf("token issued after revocation: %d %s", r.status, r.raw)
	}
	t.Run("other_subjects_unaffected", func(t *testing.T) {
		userTok := passwordToken(t, srv, publicID, "User.Read", "claims", cp1).str("access_token")
		srv.Advance(time.Second)
		srv.Revoke(bobName)
		if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", userTok, ""); r.status != 200 {
			t.Errorf("alice's token challenged by bob's revocation: %d", r.status)
		}
		srv.Revoke(aliceName)
		if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", userTok, ""); r.status != 401 {
			t.Errorf("alice's token not challenged after her revocation: %d", r.status)
		}
	})
}

func TestRequireAuthContext(t *testing.T) {
	srv := newServer(t)
	srv.RequireAuthContext("/v1.0/me/messages", "c1")
	tok := passwordToken(t, srv, publicID, "User.Read Mail.Read").str("access_token")
	if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", tok, ""); r.status != 200 {
		t.Fatalf("path outside the prefix: %d", r.status)
	}
	r := callResource(t, srv, "GET", srv.URL+"/v1.0/me/messages", tok, "")
	p := challengeParams(t, r.header.Get("WWW-Authenticate"))
	if r.status != 401 || p["error"] != "insufficient_claims" {
		t.Fatalf("%d %v", r.status, p)
	}
	claimsJSON, _ := base64.StdEncoding.DecodeString(p["claims"])
	if string(claimsJSON) != `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}` {
		t.Errorf("claims = %s", claimsJSON)
	}
	stepped := passwordToken(t, srv, publicID, "User.Read Mail.Read", "claims", string(claimsJSON)).str("access_token")
	if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me/messages", stepped, ""); r.status != 200 {
		t.Fatalf("token with acrs c1: %d %s", r.status, r.raw)
	}
	srv.RequireAuthContext("/v1.0/me/messages")
	if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me/messages", tok, ""); r.status != 200 {
		t.Errorf("requirement not removed: %d", r.status)
	}
}

func TestRequireACR(t *testing.T) {
	srv := newServer(t)
	srv.RequireACR("/v1.0/", "urn:example:gold", 10*time.Minute)
	tok := passwordToken(t, srv, publicID, "User.Read").str("access_token")
	r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", tok, "")
	h := r.header.Get("WWW-Authenticate")
	p := challengeParams(t, h)
	if r.status != 401 || p["error"] != "insufficient_user_authentication" || p["acr_values"] != "urn:example:gold" || p["max_age"] != "600" {
		t.Fatalf("%d %s", r.status, h)
	}
	// An interactive sign-in asking for the acr satisfies it...
	q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "acr_values", "urn:example:gold", "max_age", "600")))
	rr := redeem(t, srv, contosoTID, q.Get("code"))
	stepped := rr.str("access_token")
	if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", stepped, ""); r.status != 200 {
		t.Fatalf("stepped-up token: %d %s", r.status, r.raw)
	}
	// ...until the sign-in is older than max_age; refreshing keeps the old
	// auth_time, so it cannot satisfy the rule.
	srv.Advance(11 * time.Minute)
	refreshed := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", rr.str("refresh_token"), "scope", "User.Read")).str("access_token")
	r = callResource(t, srv, "GET", srv.URL+"/v1.0/me", refreshed, "")
	if p := challengeParams(t, r.header.Get("WWW-Authenticate")); r.status != 401 || p["error"] != "insufficient_user_authentication" || !strings.Contains(p["error_description"], "recent") {
		t.Errorf("stale sign-in: %d %v", r.status, p)
	}
	srv.RequireACR("/v1.0/", "", 0)
	if r := callResource(t, srv, "GET", srv.URL+"/v1.0/me", tok, ""); r.status != 200 {
		t.Errorf("rule not removed: %d", r.status)
	}
}
