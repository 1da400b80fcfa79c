package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// TestJourney is a user's whole visit: signing in through the
// authority's form, the profile from Graph, a CAE revocation the app
// recovers from without the user, a step-up the user passes by signing in
// again, and signing out. No secret shows on a page or in the log.
func TestJourney(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)

	p := b.get(e.url + "/")
	expect(t, p, http.StatusOK, "/", `id="signin"`, `id="signed-out"`)

	// A signed-out visit to the profile goes to the authority's form.
	p = b.get(e.url + "/profile")
	if !p.isSignInForm() || p.url.Host == strings.TrimPrefix(e.url, "http://") {
		t.Fatalf("the profile of a signed-out user is %s, not the authority's sign-in form", p.url)
	}
	q := e.lastAuthorize()
	for k, want := range map[string]string{
		"redirect_uri": e.url + callbackPath, "response_type": "code", "code_challenge_method": "S256",
		"client_id": testClientID, "scope": "User.Read openid offline_access profile",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("authorization request: %s=%q, want %q", k, got, want)
		}
	}
	if q.Get("state") == "" || q.Get("nonce") == "" || q.Get("response_mode") != "" {
		t.Errorf("authorization request: state %q, nonce %q, response_mode %q; want a state, a nonce and the default (query)", q.Get("state"), q.Get("nonce"), q.Get("response_mode"))
	}
	before := b.sessionCookie(e.url)
	if before == "" {
		t.Fatal("no session cookie before the sign-in")
	}

	// Signing in comes back to the profile, with a new session ID.
	p = b.signIn(p, testUser, testPassword, "signin")
	expect(t, p, http.StatusOK, "/profile", `id="profile-name">`+testName+`<`, `id="user">`+testName+`<`, testUser)
	if after := b.sessionCookie(e.url); after == "" || after == before {
		t.Errorf("session ID %q after the sign-in, %q before: want a new one", after, before)
	}
	signIns := e.count(authtest.EndpointAuthorize)

	// The authority revokes the user's session: Graph refuses the cached
	// token with a claims challenge, the transport gets a token with the
	// claims from the refresh token and sends the call again.
	e.srv.Revoke(testUser)
	tokens := e.srv.RequestsTo(authtest.EndpointToken)
	p = b.get(e.url + "/profile")
	expect(t, p, http.StatusOK, "/profile", `id="profile-name">`+testName+`<`,
		": 401, a claims challenge (insufficient_claims)", "(token request): 200")
	after := e.srv.RequestsTo(authtest.EndpointToken)
	if len(after) != len(tokens)+1 {
		t.Fatalf("%d token requests for the revocation, want 1", len(after)-len(tokens))
	}
	if rt := after[len(after)-1]; rt.GrantType != "refresh_token" || !strings.Contains(rt.Form.Get("claims"), `"nbf"`) {
		t.Errorf("the recovery's token request: grant %q, claims %q; want a refresh token with the challenge's nbf claim", rt.GrantType, rt.Form.Get("claims"))
	}
	if n := e.count(authtest.EndpointAuthorize); n != signIns {
		t.Errorf("the revocation sent the user to sign in (%d authorization requests, want %d)", n, signIns)
	}

	// The API demands a step-up: the user signs in again with the acr it
	// asks for (the login hint spares the account picker), and comes
	// back to the API's answer.
	e.srv.RequireACR("/resource/", stepUpACR, 0)
	p = b.get(e.url + "/api")
	expect(t, p, http.StatusOK, "/api", `id="api-result"`, `"scp": "Orders.Read"`, `"aud": "`+testAPI+`"`)
	if n := e.count(authtest.EndpointAuthorize); n != signIns+1 {
		t.Fatalf("%d sign-ins for the step-up, want 1", n-signIns)
	}
	q = e.lastAuthorize()
	if q.Get("acr_values") != stepUpACR || q.Get("login_hint") != testUser || !strings.Contains(q.Get("scope"), testAPI+"/Orders.Read") {
		t.Errorf("the step-up sign-in asked for acr_values %q, login_hint %q, scope %q", q.Get("acr_values"), q.Get("login_hint"), q.Get("scope"))
	}
	// Now the API answers at once.
	p = b.get(e.url + "/api")
	expect(t, p, http.StatusOK, "/api", `id="api-result"`)
	if n := e.count(authtest.EndpointAuthorize); n != signIns+1 {
		t.Errorf("calling the API after the step-up needed another sign-in")
	}

	// Signing out: the account's tokens leave the cache, the browser goes
	// through the authority's sign-out and comes back signed out.
	home := b.get(e.url + "/")
	p = b.post(e.url+"/logout", url.Values{"csrf": {b.csrf(home)}}, nil)
	expect(t, p, http.StatusOK, "/", `id="signed-out"`)
	logouts := e.srv.RequestsTo(authtest.EndpointLogout)
	if len(logouts) != 1 || logouts[0].Query.Get("post_logout_redirect_uri") != e.url+"/" || logouts[0].Query.Get("client_id") != testClientID {
		t.Errorf("sign-out at the authority: %v", logouts)
	}
	if accts, err := e.app.app.Accounts(context.Background(), ""); err != nil || len(accts) != 0 {
		t.Errorf("after signing out the cache holds %d accounts (%v), want none", len(accts), err)
	}
	if c := b.sessionCookie(e.url); c != "" {
		t.Errorf("the browser still holds a session cookie after signing out")
	}
	if n := e.app.sessions.len(); n != 0 {
		t.Errorf("%d sessions kept after signing out, want 0", n)
	}
	// The profile needs a sign-in again.
	p = b.get(e.url + "/profile")
	if !p.isSignInForm() {
		t.Errorf("after signing out the profile is %s (status %d), not the sign-in form", p.url, p.status)
	}

	noSecrets(t, e, b)
}

// noSecrets checks that no secret of the visit (client secret, password,
// codes, tokens, PKCE verifiers) is on a page or in the app's log.
func noSecrets(t *testing.T, e *env, browsers ...*browser) {
	t.Helper()
	secrets := map[string]string{testSecret: "client secret", testPassword: "password"}
	for _, r := range e.srv.Requests() {
		for _, k := range []string{"code", "refresh_token", "code_verifier", "client_secret"} {
			if v := r.Form.Get(k); v != "" {
				secrets[v] = k
			}
		}
		if _, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && tok != "" {
			secrets[tok] = "access token"
		}
	}
	if len(secrets) < 5 {
		t.Fatalf("only %d secrets collected: the check would prove little", len(secrets))
	}
	logs := e.logs.String()
	for s, what := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the app's log shows a %s", what)
		}
		for _, b := range browsers {
			for _, p := range b.pages {
				// The sign-in form echoes nothing secret; the
				// authority's pages are the browser's too.
				if strings.Contains(p, s) {
					t.Errorf("a page shows a %s", what)
				}
			}
		}
	}
}

// TestSilentRecoveries: challenges a refresh token can answer never
// bother the user. An authentication context the authority grants with
// the refresh token (RequireAuthContext) is met with the challenge's
// claims.
func TestSilentRecoveries(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	b.signedInAt(e.url, "/api", testUser, testPassword)
	signIns := e.count(authtest.EndpointAuthorize)

	e.srv.RequireAuthContext("/resource/", "c1")
	p := b.get(e.url + "/api")
	expect(t, p, http.StatusOK, "/api", `"c1"`, "a claims challenge (insufficient_claims)")
	rs := e.srv.RequestsTo(authtest.EndpointToken)
	if last := rs[len(rs)-1]; last.GrantType != "refresh_token" || !strings.Contains(last.Form.Get("claims"), `"acrs"`) {
		t.Errorf("the recovery's token request: grant %q, claims %q; want the refresh token with the acrs claim", last.GrantType, last.Form.Get("claims"))
	}
	if n := e.count(authtest.EndpointAuthorize); n != signIns {
		t.Errorf("an authentication context the refresh token can get sent the user to sign in")
	}
}

// TestSignInAgain: when only the user can satisfy a challenge, the user
// signs in again with what was asked for, and the page then works.
func TestSignInAgain(t *testing.T) {
	t.Run("the authority wants the user for an authentication context", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		b.signedInAt(e.url, "/api", testUser, testPassword)
		signIns := e.count(authtest.EndpointAuthorize)
		// As Entra answers when the context needs MFA the refresh token
		// does not carry.
		const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
		e.srv.RequireAuthContext("/resource/", "c1")
		e.srv.InjectFaults(1, authtest.Fault{Error: "interaction_required", ErrorCodes: []int{50076}, Claims: claims,
			Description: "Due to a configuration change made by your administrator, you must use multi-factor authentication."})
		p := b.get(e.url + "/api")
		expect(t, p, http.StatusOK, "/api", `"c1"`)
		if n := e.count(authtest.EndpointAuthorize); n != signIns+1 {
			t.Fatalf("%d sign-ins, want 1", n-signIns)
		}
		if q := e.lastAuthorize(); !strings.Contains(q.Get("claims"), `"acrs"`) || q.Get("login_hint") != testUser {
			t.Errorf("the sign-in asked for claims %q, login_hint %q; want the acrs claim and the user", q.Get("claims"), q.Get("login_hint"))
		}
	})
	t.Run("the refresh token was revoked", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		b.signedInAt(e.url, "/profile", testUser, testPassword)
		signIns := e.count(authtest.EndpointAuthorize)
		e.srv.RevokeRefreshTokens(testUser)
		e.srv.Revoke(testUser)
		p := b.get(e.url + "/profile")
		expect(t, p, http.StatusOK, "/profile", `id="profile-name">`+testName+`<`)
		if n := e.count(authtest.EndpointAuthorize); n != signIns+1 {
			t.Errorf("%d sign-ins, want 1", n-signIns)
		}
	})
	t.Run("a resource that stays unsatisfied shows an error instead of looping", func(t *testing.T) {
		e := newEnv(t)
		b := newBrowser(t)
		b.signedInAt(e.url, "/", testUser, testPassword)
		signIns := e.count(authtest.EndpointAuthorize)
		e.srv.InjectFaults(10, authtest.Fault{Endpoint: authtest.EndpointResource, Status: http.StatusUnauthorized,
			Header: http.Header{"Www-Authenticate": {`Bearer error="insufficient_user_authentication", acr_values="never"`}}})
		p := b.get(e.url + "/api")
		expect(t, p, http.StatusForbidden, "/api", "still asks for more")
		if n := e.count(authtest.EndpointAuthorize); n != signIns+1 {
			t.Errorf("%d sign-ins, want 1", n-signIns)
		}
		// A minute later the user may try again.
		e.advance(signInLoopStop + time.Second)
		p = b.get(e.url + "/api")
		if n := e.count(authtest.EndpointAuthorize); n != signIns+2 {
			t.Errorf("%d sign-ins after a minute, want 2 (page %s, %d)", n-signIns, p.url, p.status)
		}
	})
}

// TestCallbackRefusals: the redirect URI completes only this browser's
// own, current sign-in, once; nothing is sent to the authority otherwise.
func TestCallbackRefusals(t *testing.T) {
	e := newEnv(t)

	// start begins a sign-in in a new browser and returns the browser and
	// the authorization URL, without following it.
	start := func(t *testing.T) (*browser, *url.URL) {
		b := newBrowser(t)
		b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := b.client.Get(e.url + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		b.client.CheckRedirect = b.follow
		return b, loc
	}
	// respond has the authority answer the authorization request at u
	// (the user signs in), without following the answer.
	respond := func(t *testing.T, b *browser, u *url.URL, action string) *url.URL {
		p := b.get(u.String())
		b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		defer func() { b.client.CheckRedirect = b.follow }()
		m := formAction.FindStringSubmatch(p.body)
		form := url.Values{}
		for _, in := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
			form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
		form.Set("authtest_username", testUser)
		form.Set("authtest_password", testPassword)
		form.Set("authtest_action", action)
		target, _ := p.url.Parse(html.UnescapeString(m[1]))
		resp, err := b.client.PostForm(target.String(), form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		return loc
	}

	tests := []struct {
		name   string
		status int
		want   string
		visit  func(t *testing.T) page
	}{
		{"a forged state", http.StatusBadRequest, "does not belong to this browser's sign-in", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			q := cb.Query()
			q.Set("state", "forged-"+q.Get("state"))
			cb.RawQuery = q.Encode()
			return b.get(cb.String())
		}},
		{"no state", http.StatusBadRequest, "does not belong to this browser's sign-in", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			q := cb.Query()
			q.Del("state")
			cb.RawQuery = q.Encode()
			return b.get(cb.String())
		}},
		{"another browser's response", http.StatusBadRequest, "No sign-in is under way", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			return newBrowser(t).get(cb.String()) // an attacker's response, planted in a victim's browser
		}},
		{"an older sign-in's response", http.StatusBadRequest, "does not belong to this browser's sign-in", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			resp, err := b.client.Get(e.url + "/login") // a second sign-in replaces the first
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return b.get(cb.String())
		}},
		{"a response used twice", http.StatusBadRequest, "No sign-in is under way", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			p := b.get(cb.String())
			if p.status != http.StatusOK {
				t.Fatalf("the first use: status %d:\n%s", p.status, p.body)
			}
			return b.get(cb.String())
		}},
		{"a sign-in completed too late", http.StatusBadRequest, "took too long", func(t *testing.T) page {
			b, auth := start(t)
			cb := respond(t, b, auth, "signin")
			e.advance(signInTimeout + time.Second)
			return b.get(cb.String())
		}},
		{"the user cancels", http.StatusForbidden, "cancelled", func(t *testing.T) page {
			b, auth := start(t)
			return b.get(respond(t, b, auth, "cancel").String())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redemptions := len(e.srv.RequestsTo(authtest.EndpointToken))
			p := tt.visit(t)
			if p.status != tt.status || !strings.Contains(p.text(), tt.want) {
				t.Fatalf("status %d, want %d with %q:\n%s", p.status, tt.status, tt.want, p.body)
			}
			extra := 0
			if tt.name == "a response used twice" {
				extra = 1 // the first, good use
			} else if !strings.Contains(p.body, `id="signin"`) {
				t.Errorf("the browser looks signed in after a refused response")
			}
			if n := len(e.srv.RequestsTo(authtest.EndpointToken)) - redemptions; n != extra {
				t.Errorf("%d token requests, want %d: a refused response must send nothing", n, extra)
			}
		})
	}
}

// TestSignOutRefusesForgedRequests: sign-out takes a POST of the
// session's own page, with its CSRF token.
func TestSignOutRefusesForgedRequests(t *testing.T) {
	e := newEnv(t)
	b := newBrowser(t)
	b.signedInAt(e.url, "/", testUser, testPassword)
	token := b.csrf(b.get(e.url + "/"))
	other := newBrowser(t)
	other.signedInAt(e.url, "/", testUser, testPassword)
	otherToken := other.csrf(other.get(e.url + "/"))

	tests := []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no token", url.Values{}, nil},
		{"an empty token", url.Values{"csrf": {""}}, nil},
		{"another session's token", url.Values{"csrf": {otherToken}}, nil},
		{"a cross-site form (Sec-Fetch-Site)", url.Values{"csrf": {token}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"a cross-origin form (Origin)", url.Values{"csrf": {token}}, http.Header{"Origin": {"http://evil.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(e.url+"/logout", tt.form, tt.header)
			if p.status != http.StatusForbidden {
				t.Fatalf("status %d at %s, want 403", p.status, p.url)
			}
			expect(t, b.get(e.url+"/profile"), http.StatusOK, "/profile", `id="profile-name"`)
		})
	}
	if n := len(e.srv.RequestsTo(authtest.EndpointLogout)); n != 0 {
		t.Errorf("%d sign-outs at the authority, want 0", n)
	}
	// GET does not sign out.
	if p := b.get(e.url + "/logout"); p.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /logout: status %d, want 405", p.status)
	}
	// The page's own form does.
	p := b.post(e.url+"/logout", url.Values{"csrf": {token}}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	expect(t, p, http.StatusOK, "/", `id="signed-out"`)
}

// TestSessionCookie: the session cookie is HttpOnly, SameSite=Lax, for
// the whole app; over https also Secure, with the __Host- prefix.
func TestSessionCookie(t *testing.T) {
	for _, tt := range []struct {
		publicURL, name string
		secure          bool
	}{
		{"http://localhost:8080", "webapp_session", false},
		{"https://app.example", "__Host-webapp_session", true},
	} {
		t.Run(tt.publicURL, func(t *testing.T) {
			srv := authtest.NewServer(t)
			a, err := newApp(Config{PublicURL: tt.publicURL, ClientID: testClientID, Credential: credentialSecret(),
				Authority: srv.Authority(testTenant), Graph: srv.URL, GraphScopes: []string{"User.Read"}})
			if err != nil {
				t.Fatal(err)
			}
			w := newRecorder()
			a.handler.ServeHTTP(w, newRequest(http.MethodGet, tt.publicURL+"/login?next=/profile"))
			if w.Code != http.StatusFound {
				t.Fatalf("status %d, want 302", w.Code)
			}
			cs := w.Result().Cookies()
			if len(cs) != 1 {
				t.Fatalf("%d cookies, want 1", len(cs))
			}
			c := cs[0]
			if c.Name != tt.name || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tt.secure || c.Domain != "" || len(c.Value) < 26 {
				t.Errorf("cookie %+v", c)
			}
			if strings.Contains(w.Header().Get("Set-Cookie"), "Expires") {
				t.Errorf("the session cookie outlives the browser: %s", w.Header().Get("Set-Cookie"))
			}
		})
	}
}

// TestSessionStore: sessions expire when idle, and the oldest goes when
// the store is full.
func TestSessionStore(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	st := newSessionStore(func() time.Time { return now }, time.Hour, 2)
	a, _ := st.create()
	now = now.Add(time.Minute)
	b, _ := st.create()
	now = now.Add(time.Minute)
	if _, ok := st.get(a); !ok { // a is now the most recently used
		t.Fatal("a new session is missing")
	}
	c, _ := st.create()
	if _, ok := st.get(b); ok {
		t.Error("the least recently used session survived a full store")
	}
	if _, ok := st.get(a); !ok {
		t.Error("a recently used session was evicted")
	}
	now = now.Add(time.Hour + time.Second)
	if _, ok := st.get(c); ok {
		t.Error("an idle session did not expire")
	}
	if _, ok := st.get(""); ok {
		t.Error("the empty ID names a session")
	}
	d, s := st.create()
	e, ok := st.rotate(d, func(s *session) { s.name = "x" })
	if !ok || e == d {
		t.Fatal("rotate kept the ID")
	}
	if _, ok := st.get(d); ok {
		t.Error("the old ID still names the session after rotate")
	}
	if s2, ok := st.get(e); !ok || s2.name != "x" || s2.csrf == s.csrf {
		t.Errorf("after rotate: %v, name %q, CSRF token changed: %v", ok, s2.name, s2.csrf != s.csrf)
	}
}

// TestPagesNeedSignIn: the user's pages send a signed-out browser to sign
// in, to come back to the same page.
func TestPagesNeedSignIn(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/profile", "/api", "/api?x=1"} {
		b := newBrowser(t)
		b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := b.client.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "/login?next="+url.QueryEscape(path) {
			t.Errorf("%s: %d to %q", path, resp.StatusCode, loc)
		}
	}
	if p := newBrowser(t).get(e.url + "/nope"); p.status != http.StatusNotFound {
		t.Errorf("an unknown page: status %d", p.status)
	}
}

// TestLocalPath: the page to return to after a sign-in is a path of the
// app, never another site.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "/",
		"/":                             "/",
		"/profile":                      "/profile",
		"/api?x=1&y=2":                  "/api?x=1&y=2",
		"//evil.example":                "/",
		"/\\evil.example":               "/",
		"/\\/evil.example":              "/",
		"https://evil.example/":         "/",
		"http:evil.example":             "/",
		"javascript:alert(1)":           "/",
		"profile":                       "/",
		"/a\r\nLocation: x":             "/",
		"/%0d%0aSet-Cookie:%20x":        "/%0d%0aSet-Cookie:%20x", // escaped: a path, harmless
		"/a\x00":                        "/",
		"/" + strings.Repeat("a", 1024): "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/profile", "//evil", "/\\evil", "https://x", "/a?b=//c", "/%2F%2Fevil", "\t/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := localPath(in)
		if got != "/" && got != in {
			t.Fatalf("localPath(%q) = %q: neither the input nor /", in, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("localPath(%q) = %q leads off the app", in, got)
		}
		// What a browser does with it: resolved against the app, it stays
		// on the app's origin.
		base, _ := url.Parse("https://app.example/x/y")
		if r := base.ResolveReference(u); r.Host != "app.example" || r.Scheme != "https" {
			t.Fatalf("localPath(%q) = %q resolves to %s", in, got, r)
		}
	})
}
