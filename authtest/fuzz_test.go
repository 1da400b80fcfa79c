package authtest_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// fuzzServer is a server with the fixtures registered, driven through
// ServeHTTP (no network).
func fuzzServer(f *testing.F) *authtest.Server {
	// f.Logf may not be called inside a fuzz target: log nowhere.
	srv := authtest.NewServer(f, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	register(srv)
	return srv
}

// FuzzTokenForm feeds the token endpoint arbitrary bodies, content types,
// Authorization headers and tenants. Whatever the input, the answer is a
// JSON object: a token (200) or an OAuth error (400 or 401) whose
// description carries its AADSTS code; never a 5xx, never a panic, never
// a registered secret.
func FuzzTokenForm(f *testing.F) {
	srv := fuzzServer(f)
	seeds := []struct{ ct, body, authz, tenant string }{
		{"application/x-www-form-urlencoded", ccForm().Encode(), "", contosoTID},
		{"application/x-www-form-urlencoded", "grant_type=client_credentials&scope=api%3A%2F%2Forders%2F.default", "Basic MTExMTExMTEtYWFhYS00YmJiLThjY2MtMDAwMDAwMDAwMDAxOmFwcC1zZWNyZXQtVkFMVUUtMTIz", contosoTID},
		{"application/x-www-form-urlencoded", form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", alicePass, "scope", "User.Read openid offline_access", "client_info", "1").Encode(), "", "organizations"},
		{"application/x-www-form-urlencoded", form("grant_type", "refresh_token", "client_id", publicID, "refresh_token", "0.AAAA", "scope", "User.Read").Encode(), "", "common"},
		{"application/x-www-form-urlencoded", form("grant_type", "authorization_code", "client_id", publicID, "code", "1.AAAA", "redirect_uri", "http://localhost", "code_verifier", "x", "scope", "User.Read").Encode(), "", contosoTID},
		{"application/x-www-form-urlencoded", form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", publicID, "device_code", "DAQABAAEAAAD").Encode(), "", contosoTID},
		{"application/x-www-form-urlencoded", form("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id", appID, "client_secret", appSecret, "assertion", "eyJ0eXAiOiJKV1QifQ.e30.", "requested_token_use", "on_behalf_of", "scope", "User.Read").Encode(), "", contosoTID},
		{"application/x-www-form-urlencoded", form("grant_type", "client_credentials", "client_id", appID, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "eyJhbGciOiJQUzI1NiIsIng1dCNTMjU2IjoiQUFBQSJ9.eyJhdWQiOlsxLDJdLCJleHAiOiJzb29uIn0.AAAA", "scope", "https://graph.microsoft.com/.default").Encode(), "", contosoTID},
		{"application/x-www-form-urlencoded", "grant_type=client_credentials&claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22cp1%22%5D%7D%7D%7D&client_id=" + appID + "&client_secret=" + appSecret + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default", "", contosoTID},
		{"application/x-www-form-urlencoded", "grant_type=%zz&client_id=a;b", "", contosoTID},
		{"application/x-www-form-urlencoded; charset=utf-8", "grant_type=client_credentials&grant_type=password", "Basic %%%", "common"},
		{"application/json", `{"grant_type":"client_credentials"}`, "", contosoTID},
		{"", "", "", ""},
		{"multipart/form-data; boundary=x", "--x\r\n", "Bearer x", "consumers"},
		{"application/x-www-form-urlencoded", "claims=%5B%5D&grant_type=client_credentials&client_id=" + appID + "&client_secret=" + appSecret, "", "contoso.com"},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body), s.authz, s.tenant)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, authz, tenant string) {
		srv.ResetRequests()
		if tenant == "" || strings.ContainsAny(tenant, "/?#%") {
			tenant = "common"
		}
		req := httptest.NewRequest(http.MethodPost, "/"+url.PathEscape(tenant)+"/oauth2/v2.0/token", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", ct)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var m map[string]any
		if rec.Code == http.StatusNotFound {
			return // the tenant made another path
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("status %d, body is not a JSON object: %q", rec.Code, rec.Body.String())
		}
		switch rec.Code {
		case http.StatusOK:
			if s, _ := m["access_token"].(string); s == "" || m["token_type"] != "Bearer" {
				t.Fatalf("200 without a token: %s", rec.Body.String())
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
			code, _ := m["error"].(string)
			desc, _ := m["error_description"].(string)
			if code == "" || !strings.HasPrefix(desc, "AADSTS") {
				t.Fatalf("error without error or AADSTS description: %s", rec.Body.String())
			}
			if code == "invalid_client" && rec.Code != http.StatusUnauthorized {
				t.Fatalf("invalid_client with status %d", rec.Code)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		in := string(body) + authz
		for _, secret := range []string{appSecret, alicePass, bobPass} {
			if strings.Contains(rec.Body.String(), secret) && !strings.Contains(in, secret) {
				t.Fatalf("response holds a registered secret")
			}
		}
	})
}

// FuzzAuthorizeQuery feeds the authorization endpoint arbitrary queries:
// it answers a redirect, a sign-in form or an error page, never a 5xx.
func FuzzAuthorizeQuery(f *testing.F) {
	srv := fuzzServer(f)
	f.Add("client_id=" + publicID + "&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A1234%2F&scope=User.Read&login_hint=" + url.QueryEscape(aliceName) + "&state=s&code_challenge=" + challengeOf(verifier) + "&code_challenge_method=S256")
	f.Add("client_id=" + publicID + "&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%2F&scope=User.Read&response_mode=form_post&claims=%7B%7D&prompt=none")
	f.Add("client_id=" + appID + "&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=api%3A%2F%2Forders%2FOrders.Read&response_mode=fragment&acr_values=a+b")
	f.Add("client_id=x&redirect_uri=%zz")
	f.Add("")
	f.Fuzz(func(t *testing.T, q string) {
		srv.ResetRequests()
		req := httptest.NewRequest(http.MethodGet, "/common/oauth2/v2.0/authorize", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusFound:
			if _, err := url.Parse(rec.Header().Get("Location")); err != nil {
				t.Fatalf("bad Location %q", rec.Header().Get("Location"))
			}
		case http.StatusOK, http.StatusBadRequest:
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// FuzzResourceAuthorization feeds the resource arbitrary Authorization
// headers: it answers 401 with a Bearer challenge unless the token is
// good.
func FuzzResourceAuthorization(f *testing.F) {
	srv := fuzzServer(f)
	good := srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: aliceName, Scopes: []string{"User.Read"}})
	f.Add("Bearer " + good)
	f.Add("bearer " + good)
	f.Add("Bearer " + good[:len(good)-2])
	f.Add("Basic dXNlcjpwYXNz")
	f.Add("DPoP " + good)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.")
	f.Add("")
	f.Fuzz(func(t *testing.T, authz string) {
		srv.ResetRequests()
		req := httptest.NewRequest(http.MethodGet, "/v1.0/me", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusUnauthorized:
			h := rec.Header().Get("WWW-Authenticate")
			dpop := len(authz) > 5 && strings.EqualFold(authz[:5], "DPoP ")
			if !strings.HasPrefix(h, "Bearer ") && !(dpop && strings.HasPrefix(h, "DPoP ")) {
				t.Fatalf("401 without a Bearer challenge (or a DPoP one for the DPoP scheme): %q", h)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	})
}
