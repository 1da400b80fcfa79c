package authtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXkdBjftJeZ4CVP"

func challengeOf(v string) string {
	h := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func authorizeURL(srv *authtest.Server, tenant string, kv ...string) string {
	q := url.Values{
		"client_id":             {publicID},
		"response_type":         {"code"},
		"redirect_uri":          {"http://localhost:53117/"},
		"scope":                 {"User.Read openid profile offline_access"},
		"state":                 {"st-123"},
		"nonce":                 {"n-456"},
		"code_challenge":        {challengeOf(verifier)},
		"code_challenge_method": {"S256"},
		"login_hint":            {aliceName},
		"client_info":           {"1"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return srv.Authority(tenant) + "/oauth2/v2.0/authorize?" + q.Encode()
}

// redirected returns the parameters of a redirect response.
func redirected(t *testing.T, r response) url.Values {
	t.Helper()
	if r.status != http.StatusFound {
		t.Fatalf("status %d, want a redirect: %s", r.status, r.raw)
	}
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func redeem(t *testing.T, srv *authtest.Server, tenant, code string, kv ...string) response {
	t.Helper()
	f := form("grant_type", "authorization_code", "client_id", publicID, "code", code,
		"redirect_uri", "http://localhost:53117/", "scope", "User.Read openid profile offline_access",
		"code_verifier", verifier, "client_info", "1")
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			f.Del(kv[i])
		} else {
			f.Set(kv[i], kv[i+1])
		}
	}
	return post(t, srv, tokenURL(srv, tenant), f)
}

func TestAuthorizationCodeFlow(t *testing.T) {
	srv := newServer(t)
	t.Run("login_hint_signs_in", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, "organizations")))
		if q.Get("state") != "st-123" || q.Get("code") == "" || q.Get("session_state") == "" {
			t.Fatalf("redirect = %v", q)
		}
		if ci := decodeClientInfo(t, q.Get("client_info")); ci["utid"] != contosoTID {
			t.Errorf("client_info = %v", ci)
		}
		r := redeem(t, srv, "organizations", q.Get("code"))
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		id := claims(t, r.str("id_token"))
		if id["nonce"] != "n-456" || id["preferred_username"] != aliceName || id["tid"] != contosoTID {
			t.Errorf("id token = %v", id)
		}
		if id["auth_time"] != float64(srv.Now().Unix()) && id["auth_time"] == nil {
			t.Errorf("auth_time missing")
		}
		t.Run("code_reuse", func(t *testing.T) {
			redeem(t, srv, "organizations", q.Get("code")).wantError(t, 400, "invalid_grant", 54005)
		})
	})
	t.Run("session_user_signs_in", func(t *testing.T) {
		if err := srv.SignIn(bobName); err != nil {
			t.Fatal(err)
		}
		defer srv.SignOut()
		q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "login_hint", "")))
		r := redeem(t, srv, contosoTID, q.Get("code"))
		at := claims(t, r.str("access_token"))
		if at["preferred_username"] != bobName {
			t.Errorf("user = %v, want the session user", at["preferred_username"])
		}
		if amr := toStrings(at["amr"]); len(amr) != 2 || amr[1] != "mfa" {
			t.Errorf("amr = %v, want pwd and mfa for an MFA user signing in interactively", amr)
		}
	})
	t.Run("unknown_session_user", func(t *testing.T) {
		if err := srv.SignIn("nobody@contoso.com"); err == nil {
			t.Fatal("SignIn of an unknown user succeeded")
		}
	})
	redeemTests := []struct {
		name   string
		tenant string
		kv     []string
		aadsts int
	}{
		{"wrong_verifier", "organizations", []string{"code_verifier", "x" + verifier}, 501481},
		{"missing_verifier", "organizations", []string{"code_verifier", ""}, 50148},
		{"other_redirect_uri", "organizations", []string{"redirect_uri", "http://localhost:1/"}, 70000},
		{"other_tenant", contosoTID, nil, 700005},
		{"unknown_code", "organizations", []string{"code", "bogus"}, 9002313},
	}
	for _, tt := range redeemTests {
		t.Run(tt.name, func(t *testing.T) {
			q := redirected(t, get(t, srv, authorizeURL(srv, "organizations")))
			kv := tt.kv
			if tt.name != "unknown_code" {
				kv = append([]string{"code", q.Get("code")}, kv...)
			}
			redeem(t, srv, tt.tenant, q.Get("code"), kv...).wantError(t, 400, "invalid_grant", tt.aadsts)
		})
	}
	t.Run("missing_scope", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, "organizations")))
		redeem(t, srv, "organizations", q.Get("code"), "scope", "").wantError(t, 400, "invalid_scope", 28003)
	})
	t.Run("expired_code", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, "organizations")))
		srv.Advance(11 * time.Minute)
		redeem(t, srv, "organizations", q.Get("code")).wantError(t, 400, "invalid_grant", 70008)
	})
	t.Run("confidential_client_must_authenticate", func(t *testing.T) {
		u := authorizeURL(srv, contosoTID, "client_id", appID, "redirect_uri", "https://app.example/callback")
		q := redirected(t, get(t, srv, u))
		f := []string{"client_id", appID, "redirect_uri", "https://app.example/callback", "code", q.Get("code")}
		redeem(t, srv, contosoTID, "", f...).wantError(t, 401, "invalid_client", 7000218)
		q = redirected(t, get(t, srv, u))
		f[5] = q.Get("code")
		if r := redeem(t, srv, contosoTID, "", append(f, "client_secret", appSecret)...); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("pkce_plain", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "code_challenge", verifier, "code_challenge_method", "plain")))
		redeem(t, srv, contosoTID, q.Get("code"), "code_verifier", challengeOf(verifier)).wantError(t, 400, "invalid_grant", 501481)
		q = redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "code_challenge", verifier, "code_challenge_method", "plain")))
		if r := redeem(t, srv, contosoTID, q.Get("code")); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("claims_and_acr_values", func(t *testing.T) {
		u := authorizeURL(srv, contosoTID, "claims", `{"access_token":{"acrs":{"essential":true,"value":"c1"},"xms_cc":{"values":["cp1"]}}}`, "acr_values", "urn:example:gold")
		q := redirected(t, get(t, srv, u))
		at := claims(t, redeem(t, srv, contosoTID, q.Get("code")).str("access_token"))
		if toStrings(at["acrs"])[0] != "c1" || toStrings(at["xms_cc"])[0] != "cp1" || at["acr"] != "urn:example:gold" {
			t.Errorf("acrs %v xms_cc %v acr %v", at["acrs"], at["xms_cc"], at["acr"])
		}
	})
}

func TestAuthorizeErrors(t *testing.T) {
	srv := newServer(t)
	srv.AddUser(authtest.User{Username: "dora@contoso.com", Password: "d", TenantID: contosoTID, DeclineConsent: true})
	t.Run("redirected_errors", func(t *testing.T) {
		tests := []struct {
			name string
			kv   []string
			code string
		}{
			{"declined_consent", []string{"login_hint", "dora@contoso.com"}, "access_denied"},
			{"prompt_none_without_user", []string{"login_hint", "", "prompt", "none"}, "login_required"},
			{"unsupported_response_type", []string{"response_type", "token"}, "unsupported_response_type"},
			{"missing_scope", []string{"scope", ""}, "invalid_request"},
			{"unknown_scope", []string{"scope", "Nope.Nope"}, "invalid_scope"},
			{"bad_code_challenge_method", []string{"code_challenge_method", "S512"}, "invalid_request"},
			{"short_code_challenge", []string{"code_challenge", "abc"}, "invalid_request"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, tt.kv...)))
				if q.Get("error") != tt.code || q.Get("state") != "st-123" || !strings.HasPrefix(q.Get("error_description"), "AADSTS") || q.Get("code") != "" {
					t.Errorf("redirect = %v, want error %s with state and description", q, tt.code)
				}
			})
		}
	})
	t.Run("error_pages", func(t *testing.T) {
		tests := []struct {
			name string
			kv   []string
			code string
		}{
			{"unknown_client", []string{"client_id", "nobody"}, "AADSTS700016"},
			{"missing_client_id", []string{"client_id", ""}, "AADSTS900144"},
			{"unregistered_redirect_uri", []string{"client_id", appID, "redirect_uri", "https://evil.example/cb"}, "AADSTS50011"},
			{"non_loopback_for_client_without_uris", []string{"redirect_uri", "https://app.example/cb"}, "AADSTS50011"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := get(t, srv, authorizeURL(srv, contosoTID, tt.kv...))
				if r.status != 400 || !strings.Contains(r.raw, tt.code) || r.header.Get("Location") != "" {
					t.Errorf("%d %s, want an error page with %s and no redirect", r.status, r.raw, tt.code)
				}
			})
		}
	})
	t.Run("loopback_port_ignored", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "client_id", appID, "redirect_uri", "http://localhost:4242/cb")))
		if q.Get("code") == "" {
			t.Fatalf("redirect = %v", q)
		}
	})
}

func TestAuthorizeResponseModes(t *testing.T) {
	srv := newServer(t)
	t.Run("fragment", func(t *testing.T) {
		r := get(t, srv, authorizeURL(srv, contosoTID, "response_mode", "fragment"))
		u, _ := url.Parse(r.header.Get("Location"))
		q, _ := url.ParseQuery(u.Fragment)
		if q.Get("code") == "" || u.RawQuery != "" {
			t.Errorf("Location = %s, want the code in the fragment", r.header.Get("Location"))
		}
	})
	t.Run("form_post", func(t *testing.T) {
		r := get(t, srv, authorizeURL(srv, contosoTID, "response_mode", "form_post"))
		fields := hiddenFields(r.raw)
		if r.status != 200 || fields.Get("code") == "" || fields.Get("state") != "st-123" || !strings.Contains(r.raw, `action="http://localhost:53117/"`) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if rr := redeem(t, srv, contosoTID, fields.Get("code")); rr.status != 200 {
			t.Fatalf("redeem: %s", rr.raw)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "response_mode", "web_message")))
		if q.Get("error") != "invalid_request" {
			t.Errorf("redirect = %v", q)
		}
	})
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

func TestSignInForm(t *testing.T) {
	srv := newServer(t)
	page := get(t, srv, authorizeURL(srv, contosoTID, "login_hint", ""))
	if page.status != 200 || !strings.Contains(page.raw, `name="authtest_password"`) {
		t.Fatalf("no sign-in form: %d %s", page.status, page.raw)
	}
	fields := hiddenFields(page.raw)
	submit := func(user, pass, action string) response {
		f := cloneForm(fields)
		f.Set("authtest_username", user)
		f.Set("authtest_password", pass)
		f.Set("authtest_action", action)
		req, _ := http.NewRequest(http.MethodPost, srv.Authority(contosoTID)+"/oauth2/v2.0/authorize", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, noRedirect(srv.Client()), req)
	}
	t.Run("wrong_password_shows_form_again", func(t *testing.T) {
		r := submit(aliceName, "wrong", "signin")
		if r.status != 200 || !strings.Contains(r.raw, "incorrect") {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		if q := redirected(t, submit("", "", "cancel")); q.Get("error") != "access_denied" {
			t.Errorf("redirect = %v", q)
		}
	})
	t.Run("sign_in", func(t *testing.T) {
		q := redirected(t, submit(aliceName, alicePass, "signin"))
		if q.Get("state") != "st-123" {
			t.Fatalf("redirect = %v", q)
		}
		r := redeem(t, srv, contosoTID, q.Get("code"))
		if c := claims(t, r.str("access_token")); c["preferred_username"] != aliceName {
			t.Errorf("claims = %v", c)
		}
	})
}

func TestAdminConsent(t *testing.T) {
	srv := newServer(t)
	srv.AddClient(authtest.Client{ID: "consenting", Public: true, RequireConsent: true, RedirectURIs: []string{"http://localhost/done"}})
	ropc := form("grant_type", "password", "client_id", "consenting", "username", aliceName, "password", alicePass, "scope", "User.Read")
	post(t, srv, tokenURL(srv, contosoTID), ropc).wantError(t, 400, "invalid_grant", 65001)
	q := redirected(t, get(t, srv, srv.Authority(contosoTID)+"/adminconsent?client_id=consenting&state=s1&redirect_uri="+url.QueryEscape("http://localhost/done")))
	if q.Get("admin_consent") != "True" || q.Get("tenant") != contosoTID || q.Get("state") != "s1" {
		t.Fatalf("redirect = %v", q)
	}
	if r := post(t, srv, tokenURL(srv, contosoTID), ropc); r.status != 200 {
		t.Fatalf("after admin consent: %s", r.raw)
	}
	t.Run("declined", func(t *testing.T) {
		srv.AddUser(authtest.User{Username: "admin@contoso.com", TenantID: contosoTID, DeclineConsent: true})
		if err := srv.SignIn("admin@contoso.com"); err != nil {
			t.Fatal(err)
		}
		q := redirected(t, get(t, srv, srv.Authority(contosoTID)+"/v2.0/adminconsent?client_id=consenting&state=s2"))
		if q.Get("error") != "access_denied" || q.Get("state") != "s2" {
			t.Fatalf("redirect = %v", q)
		}
	})
	t.Run("interactive_sign_in_consents", func(t *testing.T) {
		srv.AddClient(authtest.Client{ID: "consent2", Public: true, RequireConsent: true})
		f := cloneForm(ropc)
		f.Set("client_id", "consent2")
		post(t, srv, tokenURL(srv, contosoTID), f).wantError(t, 400, "invalid_grant", 65001)
		redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "client_id", "consent2")))
		if r := post(t, srv, tokenURL(srv, contosoTID), f); r.status != 200 {
			t.Fatalf("after sign-in: %s", r.raw)
		}
	})
}

func TestLogout(t *testing.T) {
	srv := newServer(t)
	if err := srv.SignIn(aliceName); err != nil {
		t.Fatal(err)
	}
	r := get(t, srv, srv.Authority(contosoTID)+"/oauth2/v2.0/logout?post_logout_redirect_uri="+url.QueryEscape("http://localhost/bye"))
	if r.status != http.StatusFound || r.header.Get("Location") != "http://localhost/bye" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	// The session is over: a silent request has no user.
	q := redirected(t, get(t, srv, authorizeURL(srv, contosoTID, "login_hint", "", "prompt", "none")))
	if q.Get("error") != "login_required" {
		t.Errorf("after logout: %v", q)
	}
}
