package flow

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func TestAuthCodeFlowSignsUserIn(t *testing.T) {
	for _, kind := range []string{"confidential", "public"} {
		t.Run(kind, func(t *testing.T) {
			srv := userServer(t)
			var app signer
			redirect := webRedirect
			if kind == "public" {
				app, redirect = publicApp(t, srv, "organizations", WithCapabilities("cp1")), pubRedirect
			} else {
				app = webApp(t, srv, "organizations", WithCapabilities("cp1"))
			}
			f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, redirect, LoginHint(aliceUser))
			if err != nil {
				t.Fatal(err)
			}
			if srv.CountRequests(authtest.EndpointToken) != 0 {
				t.Fatalf("InitiateAuthCodeFlow asked for a token")
			}
			au, _ := url.Parse(f.AuthURI)
			q := au.Query()
			want := map[string]string{
				"client_id": map[bool]string{true: pubID, false: webID}[kind == "public"], "response_type": "code",
				"redirect_uri": redirect, "scope": "User.Read openid offline_access profile", "state": f.State, "nonce": f.Nonce,
				"code_challenge": s256(f.CodeVerifier), "code_challenge_method": "S256", "login_hint": aliceUser, "client_info": "1",
				"claims": `{"access_token":{"xms_cc":{"values":["cp1"]}}}`,
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("authorization request %s = %q, want %q", k, q.Get(k), v)
				}
			}
			if au.Host != "login.microsoftonline.com" || au.Path != "/organizations/oauth2/v2.0/authorize" {
				t.Errorf("authorization endpoint %s", au)
			}
			if len(f.State) < 32 || len(f.Nonce) < 32 || len(f.CodeVerifier) != 43 || f.RedirectURI != redirect ||
				!reflect.DeepEqual(f.Scopes, []string{"User.Read"}) || f.Authority != srv.Authority("organizations") {
				t.Errorf("flow %+v", f)
			}
			// The flow survives a session: JSON, MSAL Python's names.
			b, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{`"auth_uri"`, `"state"`, `"nonce"`, `"code_verifier"`, `"redirect_uri"`, `"scope"`} {
				if !strings.Contains(string(b), k) {
					t.Errorf("JSON %s lacks %s", b, k)
				}
			}
			var back AuthCodeFlow
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, f) {
				t.Fatalf("JSON round trip: %+v, %v", back, err)
			}
			r, err := app.AcquireTokenByAuthCodeFlow(bg(), back, browse(t, srv, f.AuthURI))
			if err != nil {
				t.Fatal(err)
			}
			tr := srv.RequestsTo(authtest.EndpointToken)
			if len(tr) != 1 {
				t.Fatalf("%d token requests, want 1", len(tr))
			}
			form := tr[0].Form
			if form.Get("grant_type") != "authorization_code" || form.Get("code_verifier") != f.CodeVerifier ||
				form.Get("redirect_uri") != redirect || form.Get("client_info") != "1" || form.Get("scope") != "User.Read openid offline_access profile" ||
				(form.Get("client_secret") != "") != (kind == "confidential") {
				t.Errorf("token request form: %v", tr[0])
			}
			if _, err := srv.Verify(r.AccessToken); err != nil || r.FromCache || r.RefreshToken == "" || r.IDToken == "" {
				t.Errorf("result %+v: %v", r, err)
			}
			if r.IDTokenClaims["nonce"] != f.Nonce || r.IDTokenClaims["preferred_username"] != aliceUser {
				t.Errorf("ID token claims %v", r.IDTokenClaims)
			}
			oid := r.IDTokenClaims["oid"].(string)
			wantAcct := Account{
				HomeAccountID: oid + "." + contosoID, Environment: "login.microsoftonline.com", TenantID: "organizations",
				Username: aliceUser, LocalAccountID: oid, Name: "alice", AuthorityType: AuthorityTypeMSSTS,
			}
			if r.Account != wantAcct {
				t.Errorf("account\n%#v\nwant\n%#v", r.Account.cacheAccount(), wantAcct.cacheAccount())
			}
			accts, err := app.Accounts(bg(), "ALICE@contoso.com")
			if err != nil || len(accts) != 1 || accts[0] != wantAcct {
				t.Errorf("Accounts = %v, %v; want the signed-in account", accts, err)
			}
			s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, accts[0])
			if err != nil || !s.FromCache || s.AccessToken != r.AccessToken || s.Account != wantAcct || s.IDToken != r.IDToken || s.RefreshToken != "" {
				t.Errorf("silent after sign-in: %+v, %v", s, err)
			}
			if n := srv.CountRequests(authtest.EndpointToken); n != 1 {
				t.Errorf("%d token requests after the silent call, want 1", n)
			}
		})
	}
}

func TestAuthCodeFlowOptionsShapeTheRequest(t *testing.T) {
	srv := userServer(t)
	app := webApp(t, srv, "organizations", WithCapabilities("cp1"))
	f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read", "openid"}, webRedirect,
		State("my-state"), Prompt(PromptConsent), LoginHint(aliceUser), DomainHint("contoso.com"),
		Claims(`{"id_token":{"acrs":{"essential":true,"value":"c1"}}}`), MaxAge(90*time.Second),
		ResponseMode(ResponseModeFormPost), ACRValues("urn:mfa", "c2"), Tenant("contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	q := func() url.Values { u, _ := url.Parse(f.AuthURI); return u.Query() }()
	for k, v := range map[string]string{
		"state": "my-state", "prompt": "consent", "login_hint": aliceUser, "domain_hint": "contoso.com",
		"claims":  `{"access_token":{"xms_cc":{"values":["cp1"]}},"id_token":{"acrs":{"essential":true,"value":"c1"}}}`,
		"max_age": "90", "response_mode": "form_post", "acr_values": "urn:mfa c2", "scope": "User.Read openid offline_access profile",
	} {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if f.State != "my-state" || f.MaxAge == nil || *f.MaxAge != 90 || f.Claims != `{"id_token":{"acrs":{"essential":true,"value":"c1"}}}` ||
		f.Authority != srv.Authority("contoso.com") || !strings.HasPrefix(f.AuthURI, srv.Authority("contoso.com")+"/oauth2/v2.0/authorize?") {
		t.Errorf("flow %+v", f)
	}
	// form_post: the response is the POSTed form; max_age is checked
	// against the ID token's auth_time.
	r, err := app.AcquireTokenByAuthCodeFlow(bg(), f, browse(t, srv, f.AuthURI))
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.TenantID != "contoso.com" || r.IDTokenClaims["auth_time"] == nil {
		t.Errorf("result %+v", r)
	}
	if c := srv.RequestsTo(authtest.EndpointToken)[0].Form.Get("claims"); c != q.Get("claims") {
		t.Errorf("redemption claims %q, want the sign-in's merged with the capabilities", c)
	}
	if _, err := app.InitiateAuthCodeFlow(bg(), nil, webRedirect, ResponseMode("web_message")); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("unknown response mode: %v", err)
	}
	for _, bad := range []string{"", "relative/path", "https://app.example/cb#frag"} {
		if _, err := app.InitiateAuthCodeFlow(bg(), nil, bad); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("redirect URI %q: %v", bad, err)
		}
	}
	// Only sign-in (no API scope): the reserved scopes alone.
	f2, err := app.InitiateAuthCodeFlow(bg(), nil, webRedirect)
	if u, _ := url.Parse(f2.AuthURI); err != nil || u.Query().Get("scope") != "openid offline_access profile" {
		t.Errorf("no scopes: %v %v", f2.AuthURI, err)
	}
}

// tokenBody is a token response carrying idToken, for a fault that makes
// the authority answer with a chosen ID token.
func tokenBody(t *testing.T, srv *authtest.Server, idToken string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"token_type": "Bearer", "expires_in": 3600, "scope": "User.Read openid profile offline_access",
		"access_token": srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: aliceUser, Scopes: []string{"User.Read"}, ClientID: webID}),
		"id_token":     idToken, "refresh_token": "a-refresh-token-" + strings.Repeat("x", 20),
	})
	return string(b)
}

// forgeJWT returns a JWT of header and claims with the signature sig.
func forgeJWT(t *testing.T, header, claims map[string]any, sig string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return b64url(h) + "." + b64url(c) + "." + sig
}

func TestAuthCodeFlowRefusals(t *testing.T) {
	srv := userServer(t)
	srv.AddUser(authtest.User{Username: "decliner@contoso.com", Password: "x-password-1", TenantID: contosoID, DeclineConsent: true})
	type fixture struct {
		f    AuthCodeFlow
		resp url.Values
	}
	idSpec := func(f AuthCodeFlow) authtest.IDTokenSpec {
		return authtest.IDTokenSpec{Subject: aliceUser, ClientID: webID, Tenant: contosoID, Nonce: f.Nonce}
	}
	tamper := func(tok string) string { // flips one character of the payload
		p := strings.Split(tok, ".")
		b := []byte(p[1])
		b[10] ^= 1
		return p[0] + "." + string(b) + "." + p[2]
	}
	tests := []struct {
		name     string
		user     string
		opts     []CallOption
		prepare  func(t *testing.T, fx *fixture) // changes the flow or the response, or injects a fault
		want     func(t *testing.T, err error)
		noTokens bool // no token request at all
	}{
		{name: "state_mismatch", prepare: func(t *testing.T, fx *fixture) { fx.resp.Set("state", "forged") }, noTokens: true,
			want: func(t *testing.T, err error) {
				if !errors.Is(err, ErrStateMismatch) {
					t.Errorf("%v", err)
				}
			}},
		{name: "state_missing", prepare: func(t *testing.T, fx *fixture) { fx.resp.Del("state") }, noTokens: true,
			want: func(t *testing.T, err error) {
				if !errors.Is(err, ErrStateMismatch) {
					t.Errorf("%v", err)
				}
			}},
		{name: "state_repeated", prepare: func(t *testing.T, fx *fixture) { fx.resp.Add("state", fx.f.State) }, noTokens: true,
			want: func(t *testing.T, err error) {
				if !errors.Is(err, ErrStateMismatch) {
					t.Errorf("%v", err)
				}
			}},
		{name: "code_repeated", prepare: func(t *testing.T, fx *fixture) { fx.resp.Add("code", "other-code-value") }, noTokens: true,
			want: func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidAuthResponse) {
					t.Errorf("%v", err)
				}
			}},
		{name: "access_denied", user: "decliner@contoso.com", noTokens: true, want: func(t *testing.T, err error) {
			if fe := asError(t, err); fe.Code != "access_denied" || !strings.Contains(fe.Description, "AADSTS65004") {
				t.Errorf("%#v", fe)
			}
		}},
		{name: "prompt_none_without_session", user: "-", opts: []CallOption{Prompt(PromptNone)}, noTokens: true, want: func(t *testing.T, err error) {
			if fe := asError(t, err); fe.Code != "login_required" || !errors.Is(err, ErrInteractionRequired) {
				t.Errorf("%v", err)
			}
		}},
		{name: "expired_code", prepare: func(t *testing.T, fx *fixture) { srv.Advance(11 * time.Minute) }, want: func(t *testing.T, err error) {
			if fe := asError(t, err); fe.Code != "invalid_grant" || fe.ErrorCodes[0] != 70008 {
				t.Errorf("%v", err)
			}
		}},
		{name: "wrong_redirect_uri", prepare: func(t *testing.T, fx *fixture) { fx.f.RedirectURI = "https://app.example/other" }, want: func(t *testing.T, err error) {
			if fe := asError(t, err); fe.Code != "invalid_grant" || !strings.Contains(fe.Description, "redirect_uri") {
				t.Errorf("%v", err)
			}
		}},
		{name: "pkce_mismatch", prepare: func(t *testing.T, fx *fixture) { fx.f.CodeVerifier = randomString(32) }, want: func(t *testing.T, err error) {
			if fe := asError(t, err); fe.Code != "invalid_grant" || fe.ErrorCodes[0] != 501481 {
				t.Errorf("%v", err)
			}
		}},
		{name: "nonce_mismatch", prepare: func(t *testing.T, fx *fixture) { fx.f.Nonce = "another-nonce-of-another-sign-in" }, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "nonce" || !errors.Is(err, ErrInvalidIDToken) {
				t.Errorf("%v", err)
			}
		}},
		{name: "nonce_missing", prepare: func(t *testing.T, fx *fixture) {
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(authtest.IDTokenSpec{Subject: aliceUser, ClientID: webID, Tenant: contosoID}))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "nonce" {
				t.Errorf("%v", err)
			}
		}},
		{name: "id_token_missing", prepare: func(t *testing.T, fx *fixture) {
			srv.InjectFaults(1, authtest.Fault{Body: `{"token_type":"Bearer","expires_in":3600,"access_token":"an-access-token-value"}`})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "format" {
				t.Errorf("%v", err)
			}
		}},
		{name: "id_token_tampered", prepare: func(t *testing.T, fx *fixture) {
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, tamper(srv.IssueIDToken(idSpec(fx.f))))})
		}, want: func(t *testing.T, err error) {
			if c := idTokenCheckOf(err); c != "signature" && c != "format" {
				t.Errorf("%v", err)
			}
		}},
		{name: "alg_none", prepare: func(t *testing.T, fx *fixture) {
			c := claimsOf(t, srv.IssueIDToken(idSpec(fx.f)))
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, forgeJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, c, ""))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "alg" {
				t.Errorf("%v", err)
			}
		}},
		{name: "alg_hs256", prepare: func(t *testing.T, fx *fixture) {
			c := claimsOf(t, srv.IssueIDToken(idSpec(fx.f)))
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, forgeJWT(t, map[string]any{"alg": "HS256", "typ": "JWT"}, c, "c2lnbmF0dXJl"))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "alg" {
				t.Errorf("%v", err)
			}
		}},
		{name: "foreign_key", prepare: func(t *testing.T, fx *fixture) {
			tok := srv.IssueIDToken(idSpec(fx.f))
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, signRS256(t, headerOf(t, tok), claimsOf(t, tok)))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "signature" {
				t.Errorf("%v", err)
			}
		}},
		{name: "wrong_aud", prepare: func(t *testing.T, fx *fixture) {
			s := idSpec(fx.f)
			s.ClientID = "another-client"
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(s))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "aud" {
				t.Errorf("%v", err)
			}
		}},
		{name: "wrong_iss", prepare: func(t *testing.T, fx *fixture) {
			s := idSpec(fx.f)
			s.Claims = map[string]any{"iss": "https://evil.example/" + contosoID + "/v2.0"}
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(s))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "iss" {
				t.Errorf("%v", err)
			}
		}},
		{name: "expired_id_token", prepare: func(t *testing.T, fx *fixture) {
			s := idSpec(fx.f)
			s.IssuedAt, s.Lifetime = srv.Now().Add(-2*time.Hour), time.Hour
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(s))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "exp" {
				t.Errorf("%v", err)
			}
		}},
		{name: "id_token_from_the_future", prepare: func(t *testing.T, fx *fixture) {
			s := idSpec(fx.f)
			s.IssuedAt = srv.Now().Add(time.Hour)
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(s))})
		}, want: func(t *testing.T, err error) {
			if c := idTokenCheckOf(err); c != "iat" {
				t.Errorf("%v", err)
			}
		}},
		{name: "max_age_passed", opts: []CallOption{MaxAge(10 * time.Minute)}, prepare: func(t *testing.T, fx *fixture) {
			s := idSpec(fx.f)
			s.AuthTime = srv.Now().Add(-time.Hour)
			srv.InjectFaults(1, authtest.Fault{Body: tokenBody(t, srv, srv.IssueIDToken(s))})
		}, want: func(t *testing.T, err error) {
			if idTokenCheckOf(err) != "auth_time" {
				t.Errorf("%v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			srv.ClearFaults()
			srv.SetNow(t0)
			app := webApp(t, srv, contosoID)
			user := tt.user
			if user == "" {
				user = aliceUser
			}
			opts := tt.opts
			if user != "-" {
				opts = append(opts, LoginHint(user))
			}
			f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, opts...)
			if err != nil {
				t.Fatal(err)
			}
			fx := &fixture{f: f, resp: browse(t, srv, f.AuthURI)}
			code := fx.resp.Get("code")
			if tt.prepare != nil {
				tt.prepare(t, fx)
			}
			_, err = app.AcquireTokenByAuthCodeFlow(bg(), fx.f, fx.resp)
			if err == nil {
				t.Fatal("no error")
			}
			tt.want(t, err)
			if leaked := secretsIn(err.Error(), code, fx.f.CodeVerifier, fx.f.Nonce, webSecret); len(leaked) > 0 {
				t.Errorf("the error shows secrets: %v", err)
			}
			if n := srv.CountRequests(authtest.EndpointToken); tt.noTokens && n != 0 {
				t.Errorf("%d token requests, want none", n)
			}
			if n := srv.RequestsTo(authtest.EndpointToken); len(n) > 1 {
				t.Errorf("%d token requests: a code redemption was retried", len(n))
			}
			if accts, _ := app.Accounts(bg(), ""); len(accts) != 0 {
				t.Errorf("a refused sign-in cached account %v", accts)
			}
		})
	}
	t.Run("reused_code", func(t *testing.T) {
		srv.SetNow(t0)
		app := webApp(t, srv, contosoID)
		f, _ := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, LoginHint(aliceUser))
		resp := browse(t, srv, f.AuthURI)
		if _, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp); err != nil {
			t.Fatal(err)
		}
		_, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp)
		if fe := asError(t, err); fe.Code != "invalid_grant" || fe.ErrorCodes[0] != 54005 {
			t.Errorf("%v", err)
		}
	})
	t.Run("flow_authority_on_another_host", func(t *testing.T) {
		app := webApp(t, srv, contosoID)
		f, _ := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, LoginHint(aliceUser))
		resp := browse(t, srv, f.AuthURI)
		srv.ResetRequests()
		f.Authority = "https://login.evil.example/" + contosoID
		if _, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp); !errors.Is(err, ErrInvalidAuthority) || srv.CountRequests(authtest.EndpointToken) != 0 {
			t.Errorf("a flow naming another host: %v", err)
		}
	})
}

func TestConcurrentSignInsOfManyUsers(t *testing.T) {
	srv := userServer(t)
	const users = 8
	for i := range users {
		srv.AddUser(authtest.User{Username: fmt.Sprintf("user%d@contoso.com", i), Password: "p-PASSWORD-1", TenantID: contosoID})
	}
	app := webApp(t, srv, "organizations")
	errs := make(chan error, users)
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("user%d@contoso.com", i)
			f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, LoginHint(name))
			if err != nil {
				errs <- err
				return
			}
			resp, err := browseErr(srv, f.AuthURI)
			if err != nil {
				errs <- err
				return
			}
			r, err := app.AcquireTokenByAuthCodeFlow(bg(), f, resp)
			if err != nil {
				errs <- err
				return
			}
			s, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, r.Account)
			if err == nil && (s.Account.Username != name || !s.FromCache) {
				err = fmt.Errorf("%s got %+v", name, s.Account.cacheAccount())
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if accts, _ := app.Accounts(bg(), ""); len(accts) != users {
		t.Errorf("%d accounts, want %d", len(accts), users)
	}
	if n := srv.CountRequests(authtest.EndpointKeys); n != 1 {
		t.Errorf("%d key set reads for concurrent sign-ins, want 1", n)
	}
}
