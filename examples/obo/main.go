// Command obo is a middle-tier web API: it validates its caller's access
// token and calls Microsoft Graph on the caller's behalf (the OAuth 2.0
// on-behalf-of flow), with one bearer.Transport for every caller.
//
// Run with no flags, it shows itself end to end on a local authority
// (authtest, posing as login.microsoftonline.com and graph.microsoft.com):
// it serves the API on a loopback port, calls it as a signed-in user would,
// and prints what happens:
//
//	go run ./examples/obo
//
// With -authority it serves the API for real until interrupted:
//
//	AZURE_CLIENT_SECRET=... go run ./examples/obo -addr 127.0.0.1:8080 \
//	    -authority https://login.microsoftonline.com/contoso.onmicrosoft.com \
//	    -client-id <the API's app id> -audience api://orders
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "obo:", err)
		os.Exit(1)
	}
}

// api is the middle tier: an app registration of its own (it is a
// confidential client) and the HTTP client it calls Graph with.
type api struct {
	app   *flow.Confidential
	graph *http.Client
}

// newAPI builds the middle tier. base reaches the authority and Graph
// (nil: the network).
func newAPI(clientID, secret, authority string, base http.RoundTripper) (*api, error) {
	opts := []flow.Option{flow.WithAuthority(authority)}
	if base != nil {
		opts = append(opts, flow.WithHTTPClient(&http.Client{Transport: base}))
	}
	app, err := flow.NewConfidential(clientID, credential.Secret(secret), opts...)
	if err != nil {
		return nil, err
	}
	// One transport for every caller: the caller's token travels in each
	// request's context, and the app caches a Graph token per caller.
	graph := &http.Client{Transport: &bearer.Transport{
		Source: app.OnBehalfOfSource(),
		Scopes: []string{"https://graph.microsoft.com/User.Read"},
		Base:   base,
	}}
	return &api{app: app, graph: graph}, nil
}

// handler serves GET /me: who the caller is, as Graph knows them. The
// middleware has validated the caller's token (signature, issuer,
// audience, lifetime) and put it in the request's context.
func (a *api) handler(audience string) http.Handler {
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := flow.TokenClaimsFromContext(r.Context())
		if scp, _ := claims["scp"].(string); !slices.Contains(strings.Fields(scp), "Orders.Read") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="", error="insufficient_scope", scope="`+audience+`/Orders.Read"`)
			http.Error(w, "the token lacks the Orders.Read scope", http.StatusForbidden)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
		if err != nil {
			http.Error(w, "bad request", http.StatusInternalServerError)
			return
		}
		resp, err := a.graph.Do(req)
		if err != nil {
			// Never echo err to the caller in a real API; it is logged here.
			fmt.Fprintln(os.Stderr, "obo: calling Graph:", err)
			http.Error(w, "the downstream call failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var user struct {
			DisplayName       string `json:"displayName"`
			UserPrincipalName string `json:"userPrincipalName"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&user) != nil {
			http.Error(w, "the downstream call failed: "+resp.Status, http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"displayName": user.DisplayName, "userPrincipalName": user.UserPrincipalName, "via": "on-behalf-of"})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /me", a.app.Middleware(me, flow.WithAudiences(audience)))
	return mux
}

func run(ctx context.Context, args []string, getenv func(string) string, w io.Writer) error {
	fs := flag.NewFlagSet("obo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve the API on (with -authority)")
	authority := fs.String("authority", "", "authority URL; without it, a demonstration on a local authority")
	clientID := fs.String("client-id", getenv("AZURE_CLIENT_ID"), "the API's client ID (default $AZURE_CLIENT_ID)")
	audience := fs.String("audience", "", "the API's identifier (App ID URI), the aud its callers' tokens carry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *authority == "" {
		return demo(ctx, w)
	}
	secret := getenv("AZURE_CLIENT_SECRET")
	switch {
	case *clientID == "":
		return errors.New("no client ID: set -client-id or AZURE_CLIENT_ID")
	case secret == "":
		return errors.New("no client secret: set AZURE_CLIENT_SECRET")
	case *audience == "":
		return errors.New("no audience: set -audience to the API's App ID URI")
	}
	a, err := newAPI(*clientID, secret, *authority, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "serving GET http://%s/me\n", ln.Addr())
	return serve(ctx, ln, a.handler(*audience))
}

// serve serves h on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demo runs the API against a local authority and calls it as a user's
// app would.
func demo(ctx context.Context, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	const (
		tenant   = "contoso.onmicrosoft.com"
		apiID    = "44444444-aaaa-4bbb-8ccc-000000000004"
		audience = "api://orders"
		secret   = "obo-demo-not-a-real-secret"
	)
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: apiID, Secret: secret, Name: "orders API"})
	srv.AddAPI(authtest.API{Audience: audience, AppID: apiID, Scopes: []string{"Orders.Read"}})
	srv.AddUser(authtest.User{Username: "alice@contoso.onmicrosoft.com", DisplayName: "Alice Smith", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "bob@contoso.onmicrosoft.com", DisplayName: "Bob Jones", TenantID: srv.TenantID(tenant)})

	a, err := newAPI(apiID, secret, "https://login.microsoftonline.com/"+tenant, srv.Client().Transport)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, a.handler(audience)) }()
	defer func() { cancel(); <-served }()
	url := "http://" + ln.Addr().String() + "/me"
	say("The orders API (%s) serves GET %s.", audience, url)

	// What a user's app would send: the user's access token for the API.
	// (A real app signs the user in, for example with the auth code flow;
	// here the local authority issues the token directly.)
	userToken := func(username, aud string) string {
		return srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: aud, Subject: username, Scopes: []string{"Orders.Read"}, ClientID: "orders-web", Tenant: tenant})
	}
	call := func(what, authorization string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		say("%s", what)
		say("   <- %s %s", resp.Status, strings.TrimSpace(string(body)))
		if c := resp.Header.Get("WWW-Authenticate"); c != "" {
			say("      WWW-Authenticate: %s", c)
		}
		return nil
	}

	before := srv.TokenRequests()
	alice := userToken("alice@contoso.onmicrosoft.com", audience)
	if err := call("1. Alice's app calls the API with her token; the API asks Graph about her, on her behalf:", "Bearer "+alice); err != nil {
		return err
	}
	if err := call("2. Bob's app calls it; the same transport serves him with his own Graph token:", "Bearer "+userToken("bob@contoso.onmicrosoft.com", audience)); err != nil {
		return err
	}
	if err := call("3. Alice's app again, with the same token; the API's cache answers, no token request:", "Bearer "+alice); err != nil {
		return err
	}
	if err := call("4. A call without a token is refused:", ""); err != nil {
		return err
	}
	if err := call("5. A token for another API is refused:", "Bearer "+userToken("alice@contoso.onmicrosoft.com", "api://payroll")); err != nil {
		return err
	}
	obo := 0
	for _, r := range srv.RequestsTo(authtest.EndpointToken)[before:] {
		if r.Form.Get("requested_token_use") == "on_behalf_of" {
			obo++
		}
	}
	say("Done: %d on-behalf-of token requests for 3 accepted calls by 2 users.", obo)
	if obo != 2 {
		return fmt.Errorf("expected 2 on-behalf-of token requests, the authority saw %d", obo)
	}
	return nil
}
