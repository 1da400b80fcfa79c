// Command webapp is a web app that signs users in with Microsoft Entra ID
// (or any authority bearer's flow package speaks to) through the
// authorization code flow with PKCE, and calls Microsoft Graph and a
// protected API as the signed-in user through [bearer.Transport]:
//
//   - GET /login starts a sign-in: the [flow.AuthCodeFlow] goes into the
//     user's server-side session (keyed by a random ID in an HttpOnly,
//     SameSite=Lax cookie), the browser goes to the authority;
//   - GET /auth/callback completes it: the response's state must be the
//     session's flow's, the code is redeemed with the PKCE verifier, the
//     ID token is verified; the account goes into the session;
//   - GET /profile calls Graph's /v1.0/me, GET /api the protected API, with
//     tokens from [flow.Confidential.AccountSource]. A continuous access
//     evaluation (CAE) revocation is recovered from silently (the transport
//     answers the claims challenge); a step-up challenge, or anything else
//     only the user can satisfy, sends the user back to sign in with what
//     the resource asked for ([flow.InteractionError.SignInOptions]), then
//     back to the page;
//   - POST /logout (with the session's CSRF token) removes the account's
//     tokens from the cache and sends the browser to the authority's
//     sign-out URL.
//
// With no flags it runs against authtest, bearer's local Entra-compatible
// authority, started in-process with a user, the app's registration and a
// protected API, and prints the URL to open and the user to sign in as:
//
//	go run ./examples/webapp
//
// The home page then also has buttons that make the local authority
// revoke the user's session or demand a step-up, to watch the app recover.
//
// Against Microsoft Entra ID: register a web app with the redirect URIs
// http://localhost:8080/auth/callback (the sign-in's) and
// http://localhost:8080/ (where the sign-out comes back to), give it a
// client secret or a certificate, then
//
//	export AZURE_CLIENT_SECRET=...      # or -cert app.pem (or AZURE_CLIENT_CERTIFICATE_PATH)
//	go run ./examples/webapp -tenant contoso.onmicrosoft.com -client-id <app id>
//
// -api-url and -api-scope name a protected API of your own to call (such
// as examples/obo's); -authority replaces the tenant with any authority
// URL, -url sets the public URL when the app runs behind a proxy.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, logger); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	addr, publicURL                      string
	tenant, authority                    string
	clientID, secret, cert, certPassword string
	graph                                string
	scopes                               []string // Graph scopes of the sign-in and the profile page
	apiURL                               string
	apiScopes                            []string
}

// local reports whether the app runs against its in-process authtest:
// when no authority is named.
func (o options) local() bool { return o.tenant == "" && o.authority == "" }

func parseFlags(args []string, getenv func(string) string, out io.Writer) (options, error) {
	var o options
	var scopes, apiScopes string
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "`address` to listen on (port 0 picks one)")
	fs.StringVar(&o.publicURL, "url", "", "the app's public `URL` (default http://localhost:<port>); the redirect URI is <URL>/auth/callback")
	fs.StringVar(&o.tenant, "tenant", "", "Entra tenant (ID or domain, organizations, common); none runs against a local authtest")
	fs.StringVar(&o.authority, "authority", "", "authority `URL` (instead of -tenant), such as https://login.microsoftonline.com/contoso.com")
	fs.StringVar(&o.clientID, "client-id", getenv("AZURE_CLIENT_ID"), "the app's client `ID` (default $AZURE_CLIENT_ID)")
	fs.StringVar(&o.cert, "cert", getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "PEM or PKCS#12 `file` with the app's certificate and key (default $AZURE_CLIENT_CERTIFICATE_PATH)")
	fs.StringVar(&o.graph, "graph", "https://graph.microsoft.com", "Microsoft Graph's base `URL`")
	fs.StringVar(&scopes, "scopes", "User.Read", "Graph `scopes` the sign-in asks for, space-separated")
	fs.StringVar(&o.apiURL, "api-url", "", "`URL` of a protected API the /api page calls (GET)")
	fs.StringVar(&apiScopes, "api-scope", "", "`scopes` of the protected API, space-separated, such as api://my-api/read")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// Secrets come from the environment only: a command line is visible
	// to every user of the machine (ps).
	o.secret = getenv("AZURE_CLIENT_SECRET")
	o.certPassword = getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD")
	o.scopes, o.apiScopes = strings.Fields(scopes), strings.Fields(apiScopes)
	if o.tenant != "" && o.authority != "" {
		return o, errors.New("-tenant and -authority: give one")
	}
	if o.publicURL != "" {
		u, err := url.Parse(o.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return o, fmt.Errorf("-url %q: want http(s)://host[:port], with no path", o.publicURL)
		}
		o.publicURL = strings.TrimSuffix(o.publicURL, "/")
	}
	if o.local() {
		if o.apiURL != "" || len(o.apiScopes) > 0 {
			return o, errors.New("-api-url and -api-scope need -tenant or -authority (the local authority brings its own API)")
		}
		return o, nil
	}
	switch {
	case o.clientID == "":
		return o, errors.New("no client ID: set -client-id or AZURE_CLIENT_ID")
	case o.secret == "" && o.cert == "":
		return o, errors.New("no credential: set AZURE_CLIENT_SECRET, or -cert (AZURE_CLIENT_CERTIFICATE_PATH)")
	case o.secret != "" && o.cert != "":
		return o, errors.New("both a secret (AZURE_CLIENT_SECRET) and a certificate (-cert): give one")
	case (o.apiURL == "") != (len(o.apiScopes) == 0):
		return o, errors.New("-api-url and -api-scope go together")
	}
	if o.authority == "" {
		o.authority = "https://login.microsoftonline.com/" + url.PathEscape(o.tenant)
	}
	return o, nil
}

// run serves the app as args say until ctx ends. It prints the URL to
// open to out, and logs to logger.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer, logger *slog.Logger) error {
	o, err := parseFlags(args, getenv, out)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if o.publicURL == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		o.publicURL = "http://localhost:" + port
	}

	var cfg Config
	var demo *authtest.Server
	if o.local() {
		demo, cfg, err = startLocalAuthority(o.publicURL, out)
		if err != nil {
			return err
		}
		defer demo.Close()
	} else {
		cred, err := credentialOf(o)
		if err != nil {
			return err
		}
		cfg = Config{
			ClientID: o.clientID, Credential: cred, Authority: o.authority,
			Graph: o.graph, GraphScopes: o.scopes, APIURL: o.apiURL, APIScopes: o.apiScopes,
		}
	}
	cfg.PublicURL, cfg.Logger, cfg.Demo = o.publicURL, logger, demo
	h, err := New(cfg)
	if err != nil {
		return err
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(out, "webapp: open %s/\n", o.publicURL)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdown); !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Connections still open after the grace period are closed. A
	// browser's speculative connection, which never sent a request, is
	// one: Shutdown counts it idle only after 5 s.
	return srv.Close()
}

// shutdownGrace is how long an interrupted app waits for requests in
// flight to end before it closes every connection.
var shutdownGrace = 5 * time.Second

// credentialOf reads the app's credential: the secret, or the
// certificate and its key.
func credentialOf(o options) (credential.Credential, error) {
	if o.secret != "" {
		return credential.Secret(o.secret), nil
	}
	data, err := os.ReadFile(o.cert)
	if err != nil {
		return nil, err
	}
	certs, key, err := credential.ParseCertificates(data, o.certPassword)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", o.cert, err)
	}
	return credential.Certificate(certs, key)
}

// The local authority's registrations.
const (
	localTenant   = "contoso.onmicrosoft.com"
	localClientID = "14141414-aaaa-4bbb-8ccc-0000000000a1"
	localUser     = "adele@contoso.onmicrosoft.com"
	localAPI      = "api://webapp-orders"
)

// startLocalAuthority starts authtest on 127.0.0.1 (plain HTTP, so that
// a browser can reach its sign-in page) with the app, a user and a
// protected API registered, and returns the app's configuration against
// it. The client secret and the user's password are made up for this
// run; the password is printed, since the user types it into authtest's
// sign-in form.
func startLocalAuthority(publicURL string, out io.Writer) (*authtest.Server, Config, error) {
	srv, err := authtest.Start()
	if err != nil {
		return nil, Config{}, err
	}
	secret, password := rand.Text(), rand.Text()[:16]
	redirects := []string{publicURL + callbackPath}
	if u, _ := url.Parse(publicURL); u != nil && u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1") {
		// Loopback redirect URIs match whatever their port, as in Entra.
		redirects = []string{"http://localhost" + callbackPath, "http://127.0.0.1" + callbackPath}
	}
	srv.AddClient(authtest.Client{ID: localClientID, Secret: secret, Name: "webapp example", RedirectURIs: redirects})
	srv.AddUser(authtest.User{Username: localUser, Password: password, DisplayName: "Adele Vance", TenantID: srv.TenantID(localTenant)})
	srv.AddAPI(authtest.API{Audience: localAPI, Scopes: []string{"Orders.Read"}})
	fmt.Fprintf(out, "webapp: a local authority (authtest) is up at %s, standing in for Entra ID, Graph and an API\n", srv.URL)
	fmt.Fprintf(out, "webapp: sign in as %s with the password %s\n", localUser, password)
	return srv, Config{
		ClientID:    localClientID,
		Credential:  credential.Secret(secret),
		Authority:   srv.Authority(localTenant),
		Graph:       srv.URL,
		GraphScopes: []string{"User.Read"},
		APIURL:      srv.URL + "/resource/orders",
		APIScopes:   []string{localAPI + "/Orders.Read"},
	}, nil
}
