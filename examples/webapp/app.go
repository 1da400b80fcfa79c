package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// Config is the web app's configuration.
type Config struct {
	// PublicURL is the URL users open, http(s)://host[:port] without a
	// trailing slash; the redirect URI is PublicURL + "/auth/callback".
	// Over https the session cookie is Secure.
	PublicURL string
	// ClientID and Credential are the app's registration.
	ClientID   string
	Credential credential.Credential
	// Authority is the authority URL, such as
	// https://login.microsoftonline.com/contoso.com.
	Authority string
	// Graph is Microsoft Graph's base URL (https://graph.microsoft.com);
	// another host receives the Graph token instead of Graph's own.
	Graph string
	// GraphScopes are the scopes the sign-in and the profile page ask
	// for, such as User.Read.
	GraphScopes []string
	// APIURL and APIScopes are the protected API the /api page calls;
	// empty for none.
	APIURL    string
	APIScopes []string
	// Logger logs what goes wrong; nil logs nothing.
	Logger *slog.Logger
	// Demo is the app's in-process local authority, whose revocation and
	// step-up buttons the home page shows; nil against a real authority.
	Demo *authtest.Server
	// Now is the clock of sessions and of the app's token cache; nil
	// means time.Now.
	Now func() time.Time
}

// Paths the app serves.
const (
	callbackPath = "/auth/callback"
	// demoAPIPrefix is the path prefix of the local authority's
	// protected API, where the demo's step-up applies.
	demoAPIPrefix = "/resource/"
	// stepUpACR is the authentication context class reference the
	// demo's step-up asks for.
	stepUpACR = "urn:webapp:acr:mfa"
)

// Session limits.
const (
	sessionIdle    = 8 * time.Hour
	maxSessions    = 100_000
	signInTimeout  = 15 * time.Minute // a sign-in not completed by then is refused
	signInLoopStop = time.Minute      // a page asking again within this after a sign-in shows an error
)

//go:embed templates/*.html
var templateFiles embed.FS

// webApp is the web app's handler state.
type webApp struct {
	cfg         Config
	app         *flow.Confidential
	sessions    *sessionStore
	graph, api  *http.Client
	pages       map[string]*template.Template
	log         *slog.Logger
	now         func() time.Time
	secure      bool   // served over https: Secure cookies
	redirectURI string // PublicURL + callbackPath
	handler     http.Handler
}

// New returns the web app's handler.
func New(cfg Config) (http.Handler, error) {
	a, err := newApp(cfg)
	if err != nil {
		return nil, err
	}
	return a.handler, nil
}

// newApp builds the app; its handler serves it.
func newApp(cfg Config) (*webApp, error) {
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || pub.Path != "" {
		return nil, fmt.Errorf("webapp: PublicURL %q is not http(s)://host[:port]", cfg.PublicURL)
	}
	if len(cfg.GraphScopes) == 0 {
		return nil, errors.New("webapp: no Graph scopes")
	}
	a := &webApp{
		cfg: cfg, log: cfg.Logger, now: cfg.Now,
		secure: pub.Scheme == "https", redirectURI: cfg.PublicURL + callbackPath,
		pages: map[string]*template.Template{},
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.sessions = newSessionStore(a.now, sessionIdle, maxSessions)

	// Every call the app makes, to the authority and to the resources,
	// goes through the tracer, which shows each page's calls on the page.
	wire := tracer{base: http.DefaultTransport}
	a.app, err = flow.NewConfidential(cfg.ClientID, cfg.Credential,
		flow.WithAuthority(cfg.Authority),
		flow.WithCapabilities("cp1"), // CAE: the app answers claims challenges
		flow.WithHTTPClient(&http.Client{Transport: wire, Timeout: 30 * time.Second}),
		flow.WithLogger(a.log),
		flow.WithClock(a.now))
	if err != nil {
		return nil, err
	}

	// One transport per resource serves every user: the signed-in
	// account travels in each request's context (see userSource).
	graphURL, err := url.Parse(cfg.Graph)
	if err != nil || graphURL.Host == "" {
		return nil, fmt.Errorf("webapp: Graph URL %q is not absolute", cfg.Graph)
	}
	gt := &bearer.Transport{Source: userSource{a.app}, Scopes: cfg.GraphScopes, Base: wire}
	if graphURL.Hostname() != "graph.microsoft.com" {
		gt.AllowedHosts = []string{graphURL.Host} // a Graph stand-in: its host, and no other, gets the token
	}
	a.graph = &http.Client{Transport: gt, Timeout: 30 * time.Second}
	if cfg.APIURL != "" {
		apiURL, err := url.Parse(cfg.APIURL)
		if err != nil || apiURL.Host == "" {
			return nil, fmt.Errorf("webapp: API URL %q is not absolute", cfg.APIURL)
		}
		a.api = &http.Client{Timeout: 30 * time.Second, Transport: &bearer.Transport{
			Source: userSource{a.app}, Scopes: cfg.APIScopes, Base: wire,
			AllowedHosts: []string{apiURL.Host},
		}}
	}

	for _, page := range []string{"home", "profile", "api", "error"} {
		t, err := template.ParseFS(templateFiles, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, err
		}
		a.pages[page] = t
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET "+callbackPath, a.callback)
	mux.HandleFunc("GET /profile", a.profile)
	mux.HandleFunc("GET /api", a.callAPI)
	mux.HandleFunc("POST /logout", a.logout)
	if cfg.Demo != nil {
		mux.HandleFunc("POST /demo/{action}", a.demo)
	}
	// Cross-origin POSTs are refused before any handler runs (Sec-Fetch-Site
	// and Origin), on top of the CSRF token each form carries.
	a.handler = securityHeaders(http.NewCrossOriginProtection().Handler(mux))
	return a, nil
}

// securityHeaders sets headers every page gets: no caching (pages show
// personal data), no referrer (the callback URL holds the code), no
// framing, no scripts.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

type accountKey struct{}

// userSource is the token source of the user whose account the request's
// context carries: AccountSource of that account.
type userSource struct{ app *flow.Confidential }

func (s userSource) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	acct, _ := ctx.Value(accountKey{}).(flow.Account)
	if acct.IsZero() {
		return bearer.Token{}, fmt.Errorf("webapp: no signed-in user: %w", flow.ErrInteractionRequired)
	}
	return s.app.AccountSource(acct).Token(ctx, req)
}

// pageData is what the templates show.
type pageData struct {
	Title    string
	User     string // the signed-in user's name; "" when signed out
	Username string
	CSRF     string
	Demo     bool   // the local authority's buttons
	Notice   string // a fixed message after a demo button
	Wire     []string
	Profile  *graphUser
	API      *apiResult
	Error    string
	Status   int
}

// graphUser is the part of Graph's user the profile shows.
type graphUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	Mail              string `json:"mail"`
}

// apiResult is the protected API's answer.
type apiResult struct {
	Configured bool
	URL        string
	Body       string
}

// data returns the page data of session s.
func (a *webApp) data(title string, s session) pageData {
	d := pageData{Title: title, Demo: a.cfg.Demo != nil}
	if !s.account.IsZero() {
		d.User, d.Username, d.CSRF = s.name, s.account.Username, s.csrf
	}
	return d
}

func (a *webApp) render(w http.ResponseWriter, status int, page string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := a.pages[page].ExecuteTemplate(w, "layout", d); err != nil {
		a.log.Error("webapp: rendering a page", slog.String("page", page), slog.String("error", err.Error()))
	}
}

// fail shows an error page; err, if any, goes to the log only.
func (a *webApp) fail(w http.ResponseWriter, r *http.Request, s session, status int, msg string, err error) {
	if err != nil {
		a.log.Warn("webapp: "+msg, slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	d := a.data("Error", s)
	d.Error, d.Status = msg, status
	a.render(w, status, "error", d)
}

// notices are the messages the home page shows after a demo button.
var notices = map[string]string{
	"revoked":  "The authority revoked your session (a CAE event): Graph and the API now refuse your tokens with a claims challenge. Open your profile: the app recovers without you.",
	"step-up":  "The API now demands a stronger sign-in (acr " + stepUpACR + "). Call the API: you sign in again, then see its answer.",
	"reset":    "The API's demands are lifted.",
	"required": "Sign in first.",
}

func (a *webApp) home(w http.ResponseWriter, r *http.Request) {
	_, s, _ := a.sessionOf(r)
	d := a.data("Home", s)
	d.Notice = notices[r.URL.Query().Get("done")]
	a.render(w, http.StatusOK, "home", d)
}

// login starts a sign-in, to come back to the local page next names.
func (a *webApp) login(w http.ResponseWriter, r *http.Request) {
	id, s, _ := a.sessionOf(r)
	a.startSignIn(w, r, id, s, a.cfg.GraphScopes, localPath(r.URL.Query().Get("next")), false)
}

// localPath returns p when it is a path of this app ("/profile",
// "/api?x=1"), else "/": the page to return to after a sign-in must not
// lead anywhere else (an open redirect).
func localPath(p string) string {
	if p == "" || p[0] != '/' || len(p) > 1024 {
		return "/"
	}
	if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	return p
}

// startSignIn sends the browser to the authority to sign in for scopes,
// keeping the flow in the session (a new one when id is ""), to return to
// next. opts shape the request: a login hint, what a challenge asked for;
// again says the page next asked for this sign-in.
func (a *webApp) startSignIn(w http.ResponseWriter, r *http.Request, id string, s session, scopes []string, next string, again bool, opts ...flow.CallOption) {
	f, err := a.app.InitiateAuthCodeFlow(r.Context(), scopes, a.redirectURI, opts...)
	if err != nil {
		a.fail(w, r, s, http.StatusInternalServerError, "The sign-in could not start.", err)
		return
	}
	p := &pendingSignIn{flow: f, next: next, started: a.now(), again: again}
	if _, ok := a.sessions.update(id, func(s *session) { s.pending = p }); !ok {
		id, _ = a.sessions.create()
		a.sessions.update(id, func(s *session) { s.pending = p })
	}
	a.setSessionCookie(w, id)
	http.Redirect(w, r, f.AuthURI, http.StatusFound)
}

// callback completes a sign-in with the authority's response.
func (a *webApp) callback(w http.ResponseWriter, r *http.Request) {
	id, s, ok := a.sessionOf(r)
	var p *pendingSignIn
	if ok { // the response can be used once
		a.sessions.update(id, func(s *session) { p, s.pending = s.pending, nil })
	}
	if p == nil {
		a.fail(w, r, s, http.StatusBadRequest, "No sign-in is under way in this browser: it expired, was completed already, or the response is not this browser's. Sign in again.", nil)
		return
	}
	if a.now().Sub(p.started) > signInTimeout {
		a.fail(w, r, s, http.StatusBadRequest, "The sign-in took too long. Sign in again.", nil)
		return
	}
	res, err := a.app.AcquireTokenByAuthCodeFlow(r.Context(), p.flow, r.URL.Query())
	var fe *flow.Error
	switch {
	case errors.Is(err, flow.ErrStateMismatch):
		// A forged response (login CSRF), or one of an older sign-in.
		a.fail(w, r, s, http.StatusBadRequest, "The sign-in response does not belong to this browser's sign-in. Sign in again.", err)
		return
	case errors.As(err, &fe) && fe.Code == "access_denied":
		a.fail(w, r, s, http.StatusForbidden, "The sign-in was cancelled.", err)
		return
	case errors.As(err, &fe):
		a.fail(w, r, s, http.StatusBadRequest, "The authority refused the sign-in ("+fe.Code+").", err)
		return
	case err != nil:
		a.fail(w, r, s, http.StatusBadGateway, "The sign-in could not be completed.", err)
		return
	}
	name := res.Account.Name
	if name == "" {
		name = res.Account.Username
	}
	newID, ok := a.sessions.rotate(id, func(s *session) {
		s.account, s.name = res.Account, name
		s.signedInFor, s.signedInAt = "", time.Time{}
		if p.again {
			s.signedInFor, s.signedInAt = p.next, a.now()
		}
	})
	if !ok { // signed out meanwhile
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.setSessionCookie(w, newID)
	http.Redirect(w, r, p.next, http.StatusSeeOther)
}

// signedIn returns the request's session when a user is signed in; else
// it sends the browser to sign in, to come back to this page.
func (a *webApp) signedIn(w http.ResponseWriter, r *http.Request) (string, session, bool) {
	id, s, ok := a.sessionOf(r)
	if !ok || s.account.IsZero() {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
		return "", session{}, false
	}
	return id, s, true
}

// call makes a GET request to target as the session's user through
// client. When only the user can get a token (a step-up, a refresh token
// the authority refused, consent), it sends the browser to sign in with
// what was asked for and returns false; other failures show an error
// page.
func (a *webApp) call(w http.ResponseWriter, r *http.Request, id string, s session, client *http.Client, target string, scopes []string, what string) (body []byte, wire *wireLog, ok bool) {
	ctx, wire := withWire(context.WithValue(r.Context(), accountKey{}, s.account))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		a.fail(w, r, s, http.StatusInternalServerError, "Bad URL for "+what+".", err)
		return nil, nil, false
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, flow.ErrInteractionRequired) {
			a.signInAgain(w, r, id, s, scopes, err)
			return nil, nil, false
		}
		a.fail(w, r, s, http.StatusBadGateway, "Calling "+what+" failed.", err)
		return nil, nil, false
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		a.fail(w, r, s, http.StatusBadGateway, "Reading "+what+"'s answer failed.", err)
		return nil, nil, false
	}
	if resp.StatusCode != http.StatusOK {
		a.fail(w, r, s, http.StatusBadGateway, fmt.Sprintf("%s answered %s.", what, resp.Status), nil)
		return nil, nil, false
	}
	return body, wire, true
}

// signInAgain sends the user to sign in for scopes with what err (an
// *flow.InteractionError) says the authority or the resource asks for:
// claims, acr_values, max_age. The login hint spares the user picking
// the account again. Right after a sign-in for this very page it shows an
// error instead: the authority did not give what the resource wants, and
// another round would loop.
func (a *webApp) signInAgain(w http.ResponseWriter, r *http.Request, id string, s session, scopes []string, err error) {
	next := localPath(r.URL.RequestURI())
	if s.signedInFor == next && a.now().Sub(s.signedInAt) < signInLoopStop {
		a.fail(w, r, s, http.StatusForbidden, "The resource still asks for more than your sign-in gave.", err)
		return
	}
	opts := []flow.CallOption{flow.LoginHint(s.account.Username)}
	var ie *flow.InteractionError
	if errors.As(err, &ie) {
		opts = append(opts, ie.SignInOptions()...)
	}
	a.log.Info("webapp: the user must sign in again", slog.String("path", r.URL.Path), slog.String("reason", err.Error()))
	a.startSignIn(w, r, id, s, scopes, next, true, opts...)
}

// profile shows the user's Graph profile (/v1.0/me).
func (a *webApp) profile(w http.ResponseWriter, r *http.Request) {
	id, s, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	body, wire, ok := a.call(w, r, id, s, a.graph, strings.TrimSuffix(a.cfg.Graph, "/")+"/v1.0/me", a.cfg.GraphScopes, "Microsoft Graph")
	if !ok {
		return
	}
	var me graphUser
	if err := json.Unmarshal(body, &me); err != nil {
		a.fail(w, r, s, http.StatusBadGateway, "Microsoft Graph's answer is not a user.", err)
		return
	}
	d := a.data("Profile", s)
	d.Profile, d.Wire = &me, wire.Lines()
	a.render(w, http.StatusOK, "profile", d)
}

// callAPI shows the protected API's answer.
func (a *webApp) callAPI(w http.ResponseWriter, r *http.Request) {
	id, s, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	d := a.data("API", s)
	if a.api == nil {
		d.API = &apiResult{}
		a.render(w, http.StatusOK, "api", d)
		return
	}
	body, wire, ok := a.call(w, r, id, s, a.api, a.cfg.APIURL, a.cfg.APIScopes, "The API")
	if !ok {
		return
	}
	if v := map[string]any{}; json.Unmarshal(body, &v) == nil {
		if b, err := json.MarshalIndent(v, "", "  "); err == nil {
			body = b
		}
	}
	d.API, d.Wire = &apiResult{Configured: true, URL: a.cfg.APIURL, Body: string(body)}, wire.Lines()
	a.render(w, http.StatusOK, "api", d)
}

// checkCSRF reports whether the POST carries the session's CSRF token.
func checkCSRF(r *http.Request, s session) bool {
	got := r.PostFormValue("csrf")
	return s.csrf != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// logout signs the user out: the session and the account's cached tokens
// go, then the browser goes to the authority's sign-out URL, which comes
// back to the home page.
func (a *webApp) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	id, s, ok := a.sessionOf(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, s) {
		a.fail(w, r, s, http.StatusForbidden, "The sign-out form is not this session's. Sign out from the app's own page.", nil)
		return
	}
	a.sessions.delete(id)
	a.clearSessionCookie(w)
	if !s.account.IsZero() {
		if err := a.app.RemoveAccount(r.Context(), s.account); err != nil {
			a.log.Warn("webapp: removing the account's tokens", slog.String("error", err.Error()))
		}
	}
	to, err := a.app.LogoutURL(r.Context(), a.cfg.PublicURL+"/")
	if err != nil { // an authority with no end_session_endpoint
		a.log.Warn("webapp: no sign-out URL", slog.String("error", err.Error()))
		to = "/"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// demo runs one of the local authority's buttons.
func (a *webApp) demo(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_, s, ok := a.sessionOf(r)
	if !ok || s.account.IsZero() {
		http.Redirect(w, r, "/?done=required", http.StatusSeeOther)
		return
	}
	if !checkCSRF(r, s) {
		a.fail(w, r, s, http.StatusForbidden, "The form is not this session's.", nil)
		return
	}
	var done string
	switch r.PathValue("action") {
	case "revoke":
		a.cfg.Demo.Revoke(s.account.Username)
		done = "revoked"
	case "step-up":
		a.cfg.Demo.RequireACR(demoAPIPrefix, stepUpACR, 0)
		done = "step-up"
	case "reset":
		a.cfg.Demo.RequireACR(demoAPIPrefix, "", 0)
		done = "reset"
	default:
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, "/?done="+done, http.StatusSeeOther)
}
