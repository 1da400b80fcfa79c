package authtest

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// SignIn makes username the user signed in to the "browser": the
// authorization endpoint signs this user in without a form when a request
// names no other user with login_hint, and admin consent is given by this
// user. It returns [ErrUnknownUser] for a user not registered.
func (s *Server) SignIn(username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(username)
	if u == nil {
		return fmt.Errorf("%w: %q", ErrUnknownUser, username)
	}
	s.session = strings.ToLower(u.Username)
	return nil
}

// SignOut ends the "browser" session [Server.SignIn] started.
func (s *Server) SignOut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = ""
}

// redirectAllowed reports whether uri is a redirect URI of c. Loopback
// URIs match whatever their port, as Entra matches them; a client with no
// registered URIs accepts any http loopback URI.
func redirectAllowed(c *Client, uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Fragment != "" {
		return false
	}
	loopback := u.Scheme == "http" && isLoopbackHost(u.Hostname())
	if len(c.RedirectURIs) == 0 {
		return loopback
	}
	for _, reg := range c.RedirectURIs {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || !loopback {
			continue
		}
		if ru.Scheme == u.Scheme && strings.EqualFold(ru.Hostname(), u.Hostname()) && ru.Path == u.Path {
			return true
		}
	}
	return false
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>authtest: sign-in error</title></head>
<body><h1>Sorry, but we're having trouble signing you in.</h1>
<p id="error">{{.}}</p></body></html>
`))

// writeErrorPage answers an authorization request that cannot be
// redirected (unknown client, bad redirect URI) with an HTML page, as
// Entra does.
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	msg := fmt.Sprintf("AADSTS%d: %s", code, fmt.Sprintf(format, args...))
	s.logProblem(r, http.StatusBadRequest, msg)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorPage.Execute(w, msg)
}

// redirect answers an authorization request on its redirect URI, in the
// response mode it asked for: query (default), fragment or form_post.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, redirectURI, mode string, params url.Values) {
	if e := params.Get("error"); e != "" {
		s.logProblem(r, http.StatusFound, e+": "+params.Get("error_description"))
	}
	switch mode {
	case "form_post":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = formPostPage.Execute(w, struct {
			Action string
			Params url.Values
		}{redirectURI, params})
	case "fragment":
		http.Redirect(w, r, redirectURI+"#"+params.Encode(), http.StatusFound)
	default:
		u, _ := url.Parse(redirectURI)
		q := u.Query()
		for k, vs := range params {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
}

var formPostPage = template.Must(template.New("form_post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Working...</title></head>
<body onload="document.forms[0].submit()">
<form method="POST" name="hiddenform" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit"></noscript>
</form></body></html>
`))

var signInPage = template.Must(template.New("signin").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>authtest: sign in</title></head>
<body>
<h1>Sign in</h1>
{{if .Message}}<p id="message">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<label>Username <input name="authtest_username" value="{{.Username}}"></label><br>
<label>Password <input name="authtest_password" type="password"></label><br>
<button name="authtest_action" value="signin">Sign in</button>
<button name="authtest_action" value="cancel">Cancel</button>
</form>
</body></html>
`))

// serveAuthorize is the authorization endpoint: it signs in the user named
// by login_hint or the session user of [Server.SignIn] at once, and shows
// a sign-in form otherwise.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request, a *authority) {
	var p url.Values
	switch r.Method {
	case http.MethodGet:
		p = r.URL.Query()
	case http.MethodPost:
		if formError(r) != nil {
			s.writeErrorPage(w, r, 90023, "The request body is not a valid form.")
			return
		}
		p = cloneValues(r.PostForm)
	default:
		s.writeErrorPage(w, r, 900561, "The endpoint only accepts GET and POST requests. Received a %s request.", r.Method)
		return
	}
	action := p.Get("authtest_action")
	formUser, formPass := p.Get("authtest_username"), p.Get("authtest_password")
	for _, k := range []string{"authtest_action", "authtest_username", "authtest_password"} {
		p.Del(k)
	}
	clientID := p.Get("client_id")
	if clientID == "" {
		s.writeErrorPage(w, r, 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	s.mu.Lock()
	c := s.clientLocked(clientID)
	s.mu.Unlock()
	if c == nil {
		s.writeErrorPage(w, r, 700016, "Application with identifier '%s' was not found in the directory '%s'.", clientID, a.tenant)
		return
	}
	redirectURI := p.Get("redirect_uri")
	if redirectURI == "" && len(c.RedirectURIs) == 1 {
		redirectURI = c.RedirectURIs[0]
	}
	if redirectURI == "" {
		s.writeErrorPage(w, r, 900144, "The request body must contain the following parameter: 'redirect_uri'.")
		return
	}
	if !redirectAllowed(c, redirectURI) {
		s.writeErrorPage(w, r, 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirectURI, c.ID)
		return
	}
	mode := p.Get("response_mode")
	state := p.Get("state")
	fail := func(code string, aadsts int, format string, args ...any) {
		v := url.Values{"error": {code}, "error_description": {fmt.Sprintf("AADSTS%d: ", aadsts) + fmt.Sprintf(format, args...)}}
		v.Set("error_uri", s.errorURI(r, aadsts))
		if state != "" {
			v.Set("state", state)
		}
		s.redirect(w, r, redirectURI, mode, v)
	}
	switch mode {
	case "", "query", "fragment", "form_post":
	default:
		mode = ""
		fail("invalid_request", 70007, "The response_mode '%s' is not supported; use query, fragment or form_post.", p.Get("response_mode"))
		return
	}
	if rt := p.Get("response_type"); rt != "code" {
		if rt == "" {
			fail("invalid_request", 900144, "The request body must contain the following parameter: 'response_type'.")
			return
		}
		fail("unsupported_response_type", 70005, "The response_type '%s' is not supported; this server issues authorization codes only.", rt)
		return
	}
	scope := p.Get("scope")
	if scope == "" {
		fail("invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	if _, e := s.parseScopes(scope, a.tid); e != nil {
		fail(e.code, e.aadsts, "%s", e.desc)
		return
	}
	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	if challenge != "" {
		switch method {
		case "":
			method = "plain"
		case "plain", "S256":
		default:
			fail("invalid_request", 501491, "The code_challenge_method '%s' is not supported; use S256.", method)
			return
		}
		if len(challenge) < 43 || len(challenge) > 128 {
			fail("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
			return
		}
	}
	claims, e := parseClaimsParam(p.Get("claims"))
	if e != nil {
		fail(e.code, e.aadsts, "%s", e.desc)
		return
	}
	prompt := p.Get("prompt")

	// Who signs in: the form's user, the login_hint's user, or the
	// session's user.
	var u *User
	message := ""
	switch action {
	case "cancel":
		fail("access_denied", 65004, "User declined to consent to access the app.")
		return
	case "signin":
		s.mu.Lock()
		fu := s.userLocked(formUser)
		s.mu.Unlock()
		if fu == nil || !fu.passwordIs(formPass) {
			message = "Your account or password is incorrect."
		} else if _, e := s.userTenant(a, fu); e != nil {
			message = "This account does not exist in the tenant; sign in with another account."
		} else {
			u = fu
		}
	default:
		s.mu.Lock()
		if hint := p.Get("login_hint"); hint != "" {
			u = s.userLocked(hint)
		} else if s.session != "" {
			u = s.users[s.session]
		}
		s.mu.Unlock()
		if u != nil {
			if _, e := s.userTenant(a, u); e != nil {
				u = nil
			}
		}
	}
	if u == nil {
		if prompt == "none" {
			fail("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
			return
		}
		if message != "" {
			s.logProblem(r, http.StatusOK, "sign-in form: "+message)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		username := formUser
		if username == "" {
			username = p.Get("login_hint")
		}
		_ = signInPage.Execute(w, struct {
			Action, Message, Username string
			Params                    url.Values
		}{r.URL.Path, message, username, p})
		return
	}
	if u.DeclineConsent {
		fail("access_denied", 65004, "User declined to consent to access the app.")
		return
	}
	tid, e := s.userTenant(a, u)
	if e != nil {
		fail(e.code, e.aadsts, "%s", e.desc)
		return
	}
	now := s.Now()
	acr := u.ACR
	if v := strings.Fields(p.Get("acr_values")); len(v) > 0 {
		acr = v[0]
	}
	code := randToken(48)
	s.mu.Lock()
	s.codes[code] = &authCode{
		clientID: c.ID, redirectURI: redirectURI, username: strings.ToLower(u.Username),
		tenant: a.tenant, tid: tid, nonce: p.Get("nonce"),
		challenge: challenge, method: method, claims: claims,
		authTime: now, acr: acr, amr: signInAMR(u), expires: now.Add(s.cfg.codeLifetime),
	}
	s.consents[consentKey(c.ID, u.ObjectID)] = true
	s.mu.Unlock()
	v := url.Values{"code": {code}, "session_state": {newGUID()}}
	if state != "" {
		v.Set("state", state)
	}
	if p.Get("client_info") == "1" && a.kind != kindADFS && a.kind != kindOIDC {
		v.Set("client_info", clientInfo(u.ObjectID, u.TenantID))
	}
	s.redirect(w, r, redirectURI, mode, v)
}

// serveAdminConsent is the admin consent endpoint: it grants the client
// consent for every user of the tenant, on behalf of the session's user
// (see [Server.SignIn]), and redirects with admin_consent=True, or with
// error=access_denied when that user declines.
func (s *Server) serveAdminConsent(w http.ResponseWriter, r *http.Request, a *authority) {
	p := r.URL.Query()
	clientID := p.Get("client_id")
	s.mu.Lock()
	c := s.clientLocked(clientID)
	var u *User
	if s.session != "" {
		u = s.users[s.session]
	}
	s.mu.Unlock()
	if c == nil {
		s.writeErrorPage(w, r, 700016, "Application with identifier '%s' was not found in the directory '%s'.", clientID, a.tenant)
		return
	}
	redirectURI := p.Get("redirect_uri")
	if redirectURI == "" && len(c.RedirectURIs) > 0 {
		redirectURI = c.RedirectURIs[0]
	}
	if redirectURI == "" || !redirectAllowed(c, redirectURI) {
		s.writeErrorPage(w, r, 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirectURI, c.ID)
		return
	}
	v := url.Values{}
	if st := p.Get("state"); st != "" {
		v.Set("state", st)
	}
	if u != nil && u.DeclineConsent {
		v.Set("error", "access_denied")
		v.Set("error_description", "AADSTS65004: The admin declined to consent to access the app.")
		s.redirect(w, r, redirectURI, "", v)
		return
	}
	tid := a.tid
	if isMultiTenant(a.tenant) && u != nil {
		tid = u.TenantID
	}
	s.recordConsent(c.ID, tid)
	v.Set("admin_consent", "True")
	v.Set("tenant", tid)
	if sc := p.Get("scope"); sc != "" {
		v.Set("scope", sc)
	}
	s.redirect(w, r, redirectURI, "", v)
}

// serveLogout is the end-session endpoint: it ends the session of
// [Server.SignIn] and redirects to post_logout_redirect_uri when given.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request, _ *authority) {
	s.SignOut()
	if u := r.URL.Query().Get("post_logout_redirect_uri"); u != "" {
		http.Redirect(w, r, u, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!DOCTYPE html><html><body><p>You signed out of your account.</p></body></html>"))
}
