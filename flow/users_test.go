package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
)

func TestNewPublic(t *testing.T) {
	if _, err := NewPublic(" "); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("empty client ID: %v", err)
	}
	if _, err := NewPublic("app", WithAuthority("http://login.example/x")); !errors.Is(err, ErrInvalidAuthority) {
		t.Errorf("bad authority: %v", err)
	}
	p, err := NewPublic("app")
	if err != nil || p.authority.String() != DefaultAuthority {
		t.Errorf("defaults: %v %v", p, err)
	}
}

func TestAcquireTokenByRefreshTokenMigratesIntoTheCache(t *testing.T) {
	srv := userServer(t)
	// A refresh token from elsewhere: another application instance.
	old := publicApp(t, srv, contosoID)
	rt := userSignIn(t, srv, old, pubRedirect, aliceUser, []string{"User.Read"}).RefreshToken
	app := publicApp(t, srv, contosoID)
	r, err := app.AcquireTokenByRefreshToken(bg(), rt, []string{"Mail.Read"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.Username != aliceUser || r.RefreshToken == "" || r.IDTokenClaims["preferred_username"] != aliceUser {
		t.Errorf("result %+v", r)
	}
	accts, _ := app.Accounts(bg(), "")
	if len(accts) != 1 || accts[0] != r.Account {
		t.Fatalf("accounts after migration: %v", accts)
	}
	if s, err := app.AcquireTokenSilent(bg(), []string{"Mail.Read"}, accts[0]); err != nil || !s.FromCache {
		t.Errorf("silent after migration: %+v %v", s, err)
	}
	srv.Advance(2 * time.Hour)
	if s, err := app.AcquireTokenSilent(bg(), []string{"Mail.Read"}, accts[0]); err != nil || s.FromCache {
		t.Errorf("silent refresh after migration: %+v %v", s, err)
	}
	for name, bad := range map[string]string{"unknown": "not-a-refresh-token-of-this-server", "empty": ""} {
		_, err := app.AcquireTokenByRefreshToken(bg(), bad, []string{"User.Read"})
		if (name == "empty") != errors.Is(err, ErrInvalidOption) || (name == "unknown") != errors.Is(err, ErrInteractionRequired) {
			t.Errorf("%s refresh token: %v", name, err)
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error shows the refresh token: %v", err)
		}
	}
}

func TestUsernamePassword(t *testing.T) {
	srv := userServer(t)
	srv.AddFederatedDomain("fabrikam.com")
	srv.AddUser(authtest.User{Username: "ann@fabrikam.com", Password: "ann-PASSWORD-1", TenantID: contosoID})
	for _, kind := range []string{"public", "confidential"} {
		t.Run(kind, func(t *testing.T) {
			type upApp interface {
				AcquireTokenByUsernamePassword(ctx context.Context, username, password string, scopes []string, opts ...CallOption) (Result, error)
			}
			var app upApp = publicApp(t, srv, "organizations")
			if kind == "confidential" {
				app = webApp(t, srv, "organizations")
			}
			srv.ResetRequests()
			r, err := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, []string{"User.Read"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Account.Username != aliceUser || r.RefreshToken == "" {
				t.Errorf("result %+v", r)
			}
			realm := srv.RequestsTo(authtest.EndpointUserRealm)
			if len(realm) != 1 || realm[0].Query.Get("api-version") != "1.0" || !strings.HasSuffix(realm[0].Path, "/common/userrealm/"+aliceUser) {
				t.Errorf("user realm discovery: %v", realm)
			}
			srv.ResetRequests()
			_, err = app.AcquireTokenByUsernamePassword(bg(), "ann@fabrikam.com", "ann-PASSWORD-1", []string{"User.Read"})
			if !errors.Is(err, ErrFederatedUser) || srv.CountRequests(authtest.EndpointToken) != 0 {
				t.Errorf("federated: %v", err)
			}
			_, err = app.AcquireTokenByUsernamePassword(bg(), bobUser, bobPass, []string{"User.Read"})
			var ie *InteractionError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInteractionRequired) || asError(t, err).Suberror != "basic_action" {
				t.Errorf("MFA: %v", err)
			}
			_, err = app.AcquireTokenByUsernamePassword(bg(), aliceUser, "wrong-PASSWORD-0", []string{"User.Read"})
			if fe := asError(t, err); fe.Code != "invalid_grant" || errors.Is(err, ErrInteractionRequired) {
				t.Errorf("wrong password: %v", err)
			}
			for _, e := range []error{err} {
				if leaked := secretsIn(e.Error(), "wrong-PASSWORD-0", alicePass, bobPass, webSecret); len(leaked) > 0 {
					t.Errorf("the error shows secrets: %v", e)
				}
			}
		})
	}
	t.Run("adfs_skips_user_realm", func(t *testing.T) {
		srv := authtest.NewServer(t)
		srv.AddClient(authtest.Client{ID: pubID, Public: true})
		srv.AddUser(authtest.User{Username: aliceUser, Password: alicePass})
		app := mustPublic(t, pubID, WithAuthority(srv.ADFSAuthority()), WithHTTPClient(srv.Client()))
		r, err := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, []string{"User.Read"})
		if err != nil || srv.CountRequests(authtest.EndpointUserRealm) != 0 || r.Account.AuthorityType != AuthorityTypeADFS || r.Account.TenantID != "adfs" {
			t.Errorf("ADFS: %+v %v (%d user realm requests)", r.Account.cacheAccount(), err, srv.CountRequests(authtest.EndpointUserRealm))
		}
	})
}

func TestAccountSource(t *testing.T) {
	srv := userServer(t)
	app := webApp(t, srv, contosoID, WithCapabilities("cp1"))
	r := userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
	src := app.AccountSource(r.Account)
	tok, err := src.Token(bg(), bearer.TokenRequest{Scopes: []string{"User.Read"}})
	if err != nil || tok.AccessToken != r.AccessToken {
		t.Fatalf("the source's cached token: %v", err)
	}
	t.Run("transport_calls_graph_as_the_user", func(t *testing.T) {
		c := &http.Client{Transport: &bearer.Transport{Source: src, Scopes: []string{"https://graph.microsoft.com/User.Read"}, Base: srv.Transport()}}
		resp, err := c.Get("https://graph.microsoft.com/v1.0/me")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), aliceUser) {
			t.Errorf("GET /me: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("step_up_needs_the_user", func(t *testing.T) {
		chs, _ := challenge.Parse(`Bearer error="insufficient_user_authentication", acr_values="urn:mfa c2", max_age="300"`)
		n := srv.CountRequests(authtest.EndpointToken)
		_, err := src.Token(bg(), bearer.TokenRequest{Scopes: []string{"User.Read"}, Challenge: &chs[0]})
		var ie *InteractionError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInteractionRequired) {
			t.Fatalf("%v", err)
		}
		if strings.Join(ie.ACRValues, " ") != "urn:mfa c2" || !ie.HasMaxAge || ie.MaxAge != 5*time.Minute || srv.CountRequests(authtest.EndpointToken) != n {
			t.Errorf("%+v (%d token requests made)", ie, srv.CountRequests(authtest.EndpointToken)-n)
		}
		f, err := app.InitiateAuthCodeFlow(bg(), []string{"User.Read"}, webRedirect, ie.SignInOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		q := func() url.Values { u, _ := url.Parse(f.AuthURI); return u.Query() }()
		if q.Get("acr_values") != "urn:mfa c2" || q.Get("max_age") != "300" {
			t.Errorf("the sign-in does not ask for the step-up: %v", q)
		}
	})
	t.Run("claims_challenge_goes_with_the_refresh_token", func(t *testing.T) {
		cl := `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
		tok2, err := src.Token(bg(), bearer.TokenRequest{Scopes: []string{"User.Read"}, Claims: cl})
		if err != nil || tok2.AccessToken == r.AccessToken {
			t.Fatalf("%v", err)
		}
		tr := srv.RequestsTo(authtest.EndpointToken)
		if f := tr[len(tr)-1].Form; f.Get("grant_type") != "refresh_token" || !strings.Contains(f.Get("claims"), `"nbf"`) || !strings.Contains(f.Get("claims"), `"cp1"`) {
			t.Errorf("refresh request %v", tr[len(tr)-1])
		}
		srv.InjectFaults(1, authtest.Fault{Error: "interaction_required", ErrorCodes: []int{50079}, Claims: `{"access_token":{"capolids":{"essential":true,"values":["9"]}}}`})
		_, err = src.Token(bg(), bearer.TokenRequest{Scopes: []string{"User.Read"}, Claims: cl})
		var ie *InteractionError
		if !errors.As(err, &ie) || !strings.Contains(ie.Claims, "capolids") || !strings.Contains(ie.Claims, `"nbf"`) {
			t.Errorf("%v; claims %q", err, ie.Claims)
		}
	})
}

func TestCallOptionsOutsideTheirCallsAreRefused(t *testing.T) {
	srv := userServer(t)
	app := webApp(t, srv, contosoID)
	acct := Account{HomeAccountID: "x.y", Environment: "login.microsoftonline.com"}
	calls := map[string]func(...CallOption) error{
		"AcquireTokenForClient": func(o ...CallOption) error {
			_, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, o...)
			return err
		},
		"AcquireTokenOnBehalfOf": func(o ...CallOption) error {
			_, err := app.AcquireTokenOnBehalfOf(bg(), "assertion-value", []string{"User.Read"}, o...)
			return err
		},
		"AcquireTokenSilent": func(o ...CallOption) error {
			_, err := app.AcquireTokenSilent(bg(), []string{"User.Read"}, acct, o...)
			return err
		},
		"AcquireTokenByRefreshToken": func(o ...CallOption) error {
			_, err := app.AcquireTokenByRefreshToken(bg(), "rt-value", []string{"User.Read"}, o...)
			return err
		},
		"AcquireTokenByUsernamePassword": func(o ...CallOption) error {
			_, err := app.AcquireTokenByUsernamePassword(bg(), aliceUser, alicePass, []string{"User.Read"}, o...)
			return err
		},
		"AcquireTokenByAuthorizationCode": func(o ...CallOption) error {
			_, err := app.AcquireTokenByAuthorizationCode(bg(), "code-value", webRedirect, []string{"User.Read"}, o...)
			return err
		},
		"AcquireTokenByAuthCodeFlow": func(o ...CallOption) error {
			_, err := app.AcquireTokenByAuthCodeFlow(bg(), AuthCodeFlow{State: "s"}, url.Values{"state": {"s"}, "code": {"c"}}, o...)
			return err
		},
		"InitiateAuthCodeFlow": func(o ...CallOption) error {
			_, err := app.InitiateAuthCodeFlow(bg(), nil, webRedirect, o...)
			return err
		},
		"AuthorizationRequestURL": func(o ...CallOption) error {
			_, err := app.AuthorizationRequestURL(bg(), nil, webRedirect, o...)
			return err
		},
		"LogoutURL":       func(o ...CallOption) error { _, err := app.LogoutURL(bg(), "", o...); return err },
		"AdminConsentURL": func(o ...CallOption) error { _, err := app.AdminConsentURL(bg(), nil, webRedirect, o...); return err },
	}
	refused := map[string][]CallOption{
		"AcquireTokenForClient":           {LoginHint("x"), Prompt("login"), State("s"), MaxAge(0), ResponseMode("query"), DomainHint("d"), ACRValues("c1"), Nonce("n"), PKCE(strings.Repeat("v", 43))},
		"AcquireTokenOnBehalfOf":          {LoginHint("x"), State("s"), Nonce("n")},
		"AcquireTokenSilent":              {LoginHint("x"), Prompt("login"), MaxAge(0), PKCE(strings.Repeat("v", 43))},
		"AcquireTokenByRefreshToken":      {ForceRefresh(), LoginHint("x"), State("s")},
		"AcquireTokenByUsernamePassword":  {ForceRefresh(), Prompt("login"), DomainHint("d")},
		"AcquireTokenByAuthorizationCode": {ForceRefresh(), LoginHint("x"), State("s"), ResponseMode("query")},
		"AcquireTokenByAuthCodeFlow":      {ForceRefresh(), Tenant("t"), Authority(srv.Authority("x")), LoginHint("x"), Nonce("n")},
		"InitiateAuthCodeFlow":            {ForceRefresh(), Nonce("n"), PKCE(strings.Repeat("v", 43))},
		"AuthorizationRequestURL":         {ForceRefresh()},
		"LogoutURL":                       {Claims("{}"), LoginHint("x"), ForceRefresh()},
		"AdminConsentURL":                 {Claims("{}"), Prompt("login"), ForceRefresh()},
	}
	for call, opts := range refused {
		for _, o := range opts {
			srv.ResetRequests()
			err := calls[call](o)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), call) {
				t.Errorf("%s: %v, want ErrInvalidOption naming the call", call, err)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%s sent %d requests before refusing an option", call, n)
			}
		}
	}
}

func TestLogoutURL(t *testing.T) {
	srv := userServer(t)
	app := webApp(t, srv, contosoID)
	u, err := app.LogoutURL(bg(), "https://app.example/bye", State("st"))
	if err != nil {
		t.Fatal(err)
	}
	want := srv.Authority(contosoID) + "/oauth2/v2.0/logout?client_id=" + webID + "&post_logout_redirect_uri=" + url.QueryEscape("https://app.example/bye") + "&state=st"
	if u != want {
		t.Errorf("LogoutURL = %s\nwant %s", u, want)
	}
	// A discovered OIDC authority's end_session_endpoint; and it works.
	plain := authtest.NewServer(t)
	plain.AddClient(authtest.Client{ID: pubID, Public: true})
	oidc := mustPublic(t, pubID, WithOIDCAuthority(plain.OIDCIssuer()), WithHTTPClient(plain.Client()))
	u, err = oidc.LogoutURL(bg(), "http://localhost/bye")
	if err != nil || !strings.HasPrefix(u, plain.OIDCIssuer()+"/logout?") {
		t.Fatalf("OIDC LogoutURL = %s, %v", u, err)
	}
	c := plain.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "http://localhost/bye" {
		t.Errorf("logout answered %d %v", resp.StatusCode, resp.Header)
	}
}

func TestAdminConsent(t *testing.T) {
	srv := userServer(t)
	srv.AddUser(authtest.User{Username: "admin@fabrikam.com", Password: "p-ADMIN-1", TenantID: srv.TenantID("fabrikam.com")})
	app := webApp(t, srv, "organizations")
	req, err := app.AdminConsentURL(bg(), []string{graphDefault}, webRedirect)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.URL, srv.Authority("organizations")+"/v2.0/adminconsent?") || len(req.State) < 32 {
		t.Fatalf("request %+v", req)
	}
	if err := srv.SignIn("admin@fabrikam.com"); err != nil {
		t.Fatal(err)
	}
	resp := browse(t, srv, req.URL)
	got, err := app.AdminConsentResult(req, resp)
	if err != nil || got.TenantID != srv.TenantID("fabrikam.com") || got.Scope != graphDefault {
		t.Fatalf("result %+v, %v", got, err)
	}
	// The daemon then gets tokens in that tenant.
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, Tenant(got.TenantID)); err != nil {
		t.Errorf("a token in the consenting tenant: %v", err)
	}
	forged := url.Values{"state": {"other"}, "admin_consent": {"True"}, "tenant": {contosoID}}
	if _, err := app.AdminConsentResult(req, forged); !errors.Is(err, ErrStateMismatch) {
		t.Errorf("forged state: %v", err)
	}
	if _, err := app.AdminConsentResult(req, url.Values{"state": {req.State}, "error": {"access_denied"}, "error_description": {"declined"}}); asError(t, err).Code != "access_denied" {
		t.Errorf("declined: %v", err)
	}
	for name, v := range map[string]url.Values{
		"not_consented":  {"state": {req.State}, "admin_consent": {"False"}, "tenant": {contosoID}},
		"no_tenant":      {"state": {req.State}, "admin_consent": {"True"}},
		"common_tenant":  {"state": {req.State}, "admin_consent": {"True"}, "tenant": {"common"}},
		"tenant_twice":   {"state": {req.State}, "admin_consent": {"True"}, "tenant": {contosoID, "x"}},
		"bad_tenant_url": {"state": {req.State}, "admin_consent": {"True"}, "tenant": {"a/b"}},
	} {
		if _, err := app.AdminConsentResult(req, v); !errors.Is(err, ErrInvalidAuthResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
	adfs := webApp(t, srv, contosoID, WithAuthority(srv.ADFSAuthority()))
	if _, err := adfs.AdminConsentURL(bg(), nil, webRedirect); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ADFS admin consent: %v", err)
	}
}

func TestCertificateThumbprintAuthenticatesAtAuthtest(t *testing.T) {
	srv := userServer(t)
	cert, key := rsaCertificate(t)
	srv.AddClient(authtest.Client{ID: "thumb-app", Certificates: []*x509.Certificate{cert}, RedirectURIs: []string{webRedirect}})
	cred, err := credential.CertificateThumbprint(key, credential.Thumbprint(cert))
	if err != nil {
		t.Fatal(err)
	}
	app := mustConfidential(t, "thumb-app", cred, appOpts(srv, contosoID)...)
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	r := userSignIn(t, srv, app, webRedirect, aliceUser, []string{"User.Read"})
	if r.Account.Username != aliceUser {
		t.Errorf("sign-in: %+v", r)
	}
	a := srv.RequestsTo(authtest.EndpointToken)[0].Form.Get("client_assertion")
	if h := headerOf(t, a); h["alg"] != "RS256" || h["x5t"] == nil {
		t.Errorf("assertion header %v", h)
	}
}
