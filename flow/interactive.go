package flow

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// DefaultInteractiveTimeout is how long [Public.AcquireTokenInteractive]
// waits for the user to sign in when the call has no [Timeout].
const DefaultInteractiveTimeout = 10 * time.Minute

var (
	// ErrNoBrowser is wrapped by the error of [OpenBrowser] when there is
	// no way to open a browser (no opener program, or no graphical
	// session on Linux and the BSDs).
	ErrNoBrowser = errors.New("flow: no browser can be opened")
	// ErrSignInTimeout is wrapped by the error of
	// [Public.AcquireTokenInteractive] when the user did not complete the
	// sign-in within its [Timeout]; the error wraps
	// [context.DeadlineExceeded] too.
	ErrSignInTimeout = errors.New("flow: the sign-in did not complete in time")
)

// WithBrowser sets how [Public.AcquireTokenInteractive] sends the user to
// the authorization URL: open is called once per sign-in with the URL,
// and should return once the browser has it (it may block until the
// sign-in is over: the redirect is received meanwhile). When open returns
// an error, the URL is printed to standard error for the user to open
// by hand, and the sign-in still waits. The default is [OpenBrowser].
// Tests give a function that signs in with an HTTP client. Used by
// AcquireTokenInteractive.
func WithBrowser(open func(ctx context.Context, url string) error) Option {
	return func(c *config) { c.browser = open }
}

// OpenBrowser opens rawURL, an http or https URL, in the user's default
// browser: with xdg-open on Linux and the BSDs (when a graphical session
// is there: DISPLAY or WAYLAND_DISPLAY is set), open on macOS, and
// rundll32 url.dll,FileProtocolHandler on Windows. It returns when that
// program exits; an error wrapping [ErrNoBrowser] when there is none, or
// the program's error.
func OpenBrowser(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("flow: OpenBrowser opens http and https URLs only")
	}
	var name string
	var args []string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
	case "android", "ios", "js", "wasip1", "plan9":
		return fmt.Errorf("%w on %s", ErrNoBrowser, runtime.GOOS)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return fmt.Errorf("%w: no graphical session (DISPLAY and WAYLAND_DISPLAY are not set)", ErrNoBrowser)
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%w: %s not found", ErrNoBrowser, name)
	}
	cmd := exec.CommandContext(ctx, path, append(args, rawURL)...)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("flow: %s: %w", name, err)
	}
	return nil
}

// RedirectURI sets the redirect URI of an interactive sign-in: an http
// URL of a loopback host (localhost, 127.0.0.1 or [::1]) with an optional
// port and path, such as http://localhost or http://localhost:8400/auth,
// as registered with the application. Without a port (or with port 0) a
// free port is picked. The default is http://127.0.0.1 on a free port
// (RFC 8252 section 7.3 prefers the address to the name localhost); an
// application registered with http://localhost gives that. Used by
// AcquireTokenInteractive.
func RedirectURI(uri string) CallOption {
	return func(c *callConfig) { c.redirectURI, c.given = uri, c.given|optRedirectURI }
}

// Timeout sets how long AcquireTokenInteractive waits for the user to
// complete the sign-in in the browser (the default is
// [DefaultInteractiveTimeout]); the call's context may end it sooner.
// Used by AcquireTokenInteractive.
func Timeout(d time.Duration) CallOption {
	return func(c *callConfig) { c.timeout, c.given = d, c.given|optTimeout }
}

// AcquireTokenInteractive signs a user in through their browser, as
// MSAL's acquire_token_interactive, for a desktop or command-line
// application: it starts a web server on a loopback redirect URI (see
// [RedirectURI]), opens the browser at the authorization URL (see
// [WithBrowser]; when none opens, the URL is printed to standard error),
// waits for the authority's redirect, shows the user a short page (signed
// in, or the authority's error), redeems the code and closes the server.
//
// The request has PKCE (S256), a random state (a redirect whose state is
// not the sign-in's is answered 400 and ignored, so another page cannot
// end or hijack the sign-in) and a random nonce, checked in the verified
// ID token (see [IDTokenError]). scopes are the API scopes to consent to
// (openid, offline_access and profile are added, see
// [WithExcludeScopes]). [LoginHint], [DomainHint], [Prompt], [MaxAge]
// (the ID token's auth_time is checked against it), [ACRValues],
// [Claims] (merged with [WithCapabilities]), [Tenant], [Authority],
// [RedirectURI] and [Timeout] apply, so an [InteractionError]'s
// SignInOptions can be given as they are; any other option fails with
// [ErrInvalidOption]. An error response from the authority
// (access_denied when the user cancels) is an [*Error]; no response
// within the timeout is an error wrapping [ErrSignInTimeout]; the end of
// ctx, ctx's error. The tokens are cached under the user's [Account],
// which the Result carries.
func (p *Public) AcquireTokenInteractive(ctx context.Context, scopes []string, opts ...CallOption) (Result, error) {
	return p.traceOneShot(ctx, KindInteractive, scopes, opts, func(ctx context.Context) (Result, error) {
		return p.users().acquireInteractive(ctx, scopes, opts)
	})
}

// acquireInteractive is AcquireTokenInteractive.
func (u users) acquireInteractive(ctx context.Context, scopes []string, opts []CallOption) (Result, error) {
	start := time.Now()
	cc, err := newCallConfigFor("AcquireTokenInteractive",
		usedByAcquire|optLoginHint|optDomainHint|optPrompt|optMaxAge|optACRValues|optRedirectURI|optTimeout, opts...)
	if err != nil {
		return Result{}, err
	}
	timeout := DefaultInteractiveTimeout
	if cc.given&optTimeout != 0 {
		if cc.timeout <= 0 {
			return Result{}, fmt.Errorf("%w: the sign-in timeout %v is not positive", ErrInvalidOption, cc.timeout)
		}
		timeout = cc.timeout
	}
	redirect, err := parseLoopbackRedirect(cc.redirectURI)
	if err != nil {
		return Result{}, err
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	if _, err := u.endpointsOf(ctx, a); err != nil { // before listening: discovery may fail
		return Result{}, err
	}
	lb, err := listenLoopback(redirect)
	if err != nil {
		return Result{}, err
	}
	defer lb.close()
	s := signInRequest{
		scopes: oauth.AppScopes(scopes), redirectURI: lb.redirectURI,
		state: randomString(24), verifier: randomString(32), cc: cc,
	}
	if slices.ContainsFunc(oauth.UserScopes(scopes, u.cfg.excludeScopes), func(s string) bool { return strings.EqualFold(s, "openid") }) {
		s.nonce = randomString(24)
	}
	authURL, err := u.authorizationURL(ctx, a, s)
	if err != nil {
		return Result{}, err
	}
	lb.serve(s.state)

	wctx, cancel := u.cfg.withTimeout(ctx, timeout)
	defer cancel()
	u.log.debug(ctx, "flow: interactive: waiting for the sign-in", slog.String("authority", a.String()),
		slog.String("redirect_uri", lb.redirectURI), slog.Any("scopes", s.scopes), slog.Duration("timeout", timeout))
	open := u.cfg.browser
	if open == nil {
		open = OpenBrowser
	}
	if err := open(wctx, authURL); err != nil {
		u.log.debug(ctx, "flow: interactive: no browser opened; the URL is printed", slog.String("error", err.Error()))
		fmt.Fprintf(u.cfg.signInOutput, "Could not open a browser (%v).\nTo sign in, open this URL in a browser on this computer:\n\n    %s\n\n", err, authURL)
	}
	var response url.Values
	select {
	case response = <-lb.got:
	case <-wctx.Done():
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("flow: interactive: stopped waiting for the sign-in: %w", err)
		}
		return Result{}, fmt.Errorf("%w: no response from the browser within %v: %w", ErrSignInTimeout, timeout, context.DeadlineExceeded)
	}
	lb.close() // the page was written: nothing more to serve
	code, err := authResponse(s.state, response)
	if err != nil {
		u.log.debug(ctx, "flow: interactive: response refused", slog.String("error", err.Error()))
		return Result{}, err
	}
	chk := idTokenCheck{nonce: s.nonce, maxAge: cc.maxAge, hasMaxAge: cc.hasMaxAge}
	return u.redeemCode(ctx, a, code, lb.redirectURI, s.verifier, s.scopes, cc.claims, chk, "interactive", start)
}

// loopbackRedirect is a parsed redirect URI of an interactive sign-in.
type loopbackRedirect struct {
	host string // as written: localhost, 127.0.0.1 or [::1]
	port int    // 0 for any free port
	path string // "" or the path, starting with /
}

// parseLoopbackRedirect checks an interactive sign-in's redirect URI: ""
// means http://127.0.0.1 on a free port.
func parseLoopbackRedirect(raw string) (loopbackRedirect, error) {
	if raw == "" {
		return loopbackRedirect{host: "127.0.0.1"}, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: the redirect URI %q %s", ErrInvalidOption, raw, why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return loopbackRedirect{}, bad("is not a URL")
	}
	if u.Scheme != "http" {
		return loopbackRedirect{}, bad("is not http (the redirect server is on this computer)")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return loopbackRedirect{}, bad("has user information, a query or a fragment")
	}
	r := loopbackRedirect{path: u.EscapedPath()}
	switch h := u.Hostname(); {
	case strings.EqualFold(h, "localhost"):
		r.host = "localhost"
	case h == "127.0.0.1":
		r.host = h
	case h == "::1":
		r.host = "[::1]"
	default:
		return loopbackRedirect{}, bad("is not of a loopback host (localhost, 127.0.0.1 or [::1])")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return loopbackRedirect{}, bad("has an invalid port")
		}
		r.port = n
	}
	if r.path == "/" {
		r.path = ""
	}
	return r, nil
}

// loopback is the redirect server of one interactive sign-in.
type loopback struct {
	redirectURI string
	path        string // the path the response comes to ("/" for none)
	listeners   []net.Listener
	srv         *http.Server
	got         chan url.Values // the response whose state is the sign-in's, once
	served      sync.WaitGroup  // the Serve goroutines
	closeOnce   sync.Once
}

// listenLoopback listens on r's host and port (a free port for 0):
// 127.0.0.1 for 127.0.0.1, [::1] for [::1], and for localhost 127.0.0.1
// and, when the machine has it, [::1] on the same port (a browser may
// resolve the name to either).
func listenLoopback(r loopbackRedirect) (*loopback, error) {
	first := "127.0.0.1"
	if r.host == "[::1]" {
		first = "[::1]"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(strings.Trim(first, "[]"), strconv.Itoa(r.port)))
	if err != nil {
		return nil, fmt.Errorf("flow: interactive: listening for the redirect on %s: %w", r.host, err)
	}
	lb := &loopback{listeners: []net.Listener{ln}, got: make(chan url.Values, 1), path: r.path}
	port := ln.Addr().(*net.TCPAddr).Port
	if r.host == "localhost" {
		if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
			lb.listeners = append(lb.listeners, ln6)
		}
	}
	lb.redirectURI = "http://" + r.host + ":" + strconv.Itoa(port) + r.path
	if lb.path == "" {
		lb.path = "/"
	}
	return lb, nil
}

// serve starts answering the redirect of the sign-in whose state is state.
func (lb *loopback) serve(state string) {
	lb.srv = &http.Server{
		Handler:           lb.handler(state),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	for _, ln := range lb.listeners {
		lb.served.Add(1)
		go func() {
			defer lb.served.Done()
			_ = lb.srv.Serve(ln)
		}()
	}
}

// close stops the server: the listeners close at once, and connections
// still open get a second to finish (the page is written before the
// response is handed over, so they are idle); then they are closed.
func (lb *loopback) close() {
	lb.closeOnce.Do(func() {
		if lb.srv == nil {
			for _, ln := range lb.listeners {
				ln.Close()
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if lb.srv.Shutdown(ctx) != nil {
			lb.srv.Close()
		}
		lb.served.Wait()
	})
}

// handler answers the browser at the redirect URI: a response with the
// sign-in's state is handed over (the first one only) and answered with
// a page saying how the sign-in went; one with another state, or none, is
// answered 400 and ignored; any other path is 404.
func (lb *loopback) handler(state string) http.Handler {
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != lb.path {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writePage(w, http.StatusMethodNotAllowed, pageData{Title: "Sign-in failed", Text: "This page takes the authority's redirect (GET) only."})
			return
		}
		q := r.URL.Query()
		got := q.Get("state")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 || len(q["state"]) != 1 {
			writePage(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Text: "This response does not belong to the sign-in under way. Close this window and start the sign-in again from the application."})
			return
		}
		first := false
		once.Do(func() {
			first = true
			lb.got <- q
		})
		switch {
		case !first:
			writePage(w, http.StatusOK, pageData{Title: "Sign-in complete", Text: "This sign-in is already complete. You can close this window."})
		case q.Get("error") != "":
			writePage(w, http.StatusOK, pageData{
				Title: "Sign-in failed", Text: "The authority answered with an error. Return to the application for details.",
				Code: cleanField(q.Get("error")), Description: cleanField(q.Get("error_description")),
			})
		case q.Get("code") == "":
			writePage(w, http.StatusBadRequest, pageData{Title: "Sign-in failed", Text: "The response carries no authorization code."})
		default:
			writePage(w, http.StatusOK, pageData{Title: "Signed in", Text: "You have signed in. You can close this window and return to the application."})
		}
	})
}

// pageData is what the page after a sign-in shows.
type pageData struct {
	Title, Text       string
	Code, Description string // the authority's error, if any
}

// signInPage is the page the browser shows after the redirect. Everything
// in it is HTML-escaped by html/template; it loads nothing.
var signInPage = template.Must(template.New("signin").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#1b1b1b;line-height:1.5}code{background:#f2f2f2;padding:.1em .3em}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.Text}}</p>
{{if .Code}}<p>Error: <code id="error">{{.Code}}</code></p>{{end}}
{{if .Description}}<p id="error_description">{{.Description}}</p>{{end}}
</body></html>
`))

// writePage writes the page after a sign-in: never cached, loading
// nothing, and not sending the URL (which holds the code) as a referrer.
func writePage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = signInPage.Execute(w, d)
}
