// Command quickstart is bearer's quick start: a daemon calls Microsoft
// Graph with an app-only token, the authority revokes its session, and
// the transport recovers from the claims challenge by itself.
//
// It needs no Azure tenant: it starts authtest, bearer's local
// Entra-compatible authority, in-process, posing as
// login.microsoftonline.com and graph.microsoft.com. Only the HTTP client
// given to the app and the transport knows that; the rest is the code you
// would write against the real Entra ID:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

const (
	clientID = "11111111-2222-3333-4444-555555555555"
	// A made-up secret for the local authority. Real secrets come from a
	// vault or the environment, never from source code.
	clientSecret = "quickstart-not-a-real-secret"
	tenant       = "contoso.onmicrosoft.com"
)

func run(ctx context.Context, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	// The local authority, with the daemon's app registration and two users
	// for it to list.
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret, Name: "quickstart daemon"})
	srv.AddUser(authtest.User{Username: "adele@contoso.onmicrosoft.com", DisplayName: "Adele Vance", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "alex@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", TenantID: srv.TenantID(tenant)})
	say("1. A local authority posing as login.microsoftonline.com and graph.microsoft.com is up at %s.", srv.URL)

	// Every HTTP exchange is printed, so you can see what goes over the wire.
	wire := &tracer{base: srv.Client().Transport, w: w}

	// The confidential client: the same code as against the real Entra ID,
	// apart from the HTTP client that reaches the local authority.
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority("https://login.microsoftonline.com/"+tenant),
		flow.WithCapabilities("cp1"), // "I can handle claims challenges": CAE-ready tokens
		flow.WithHTTPClient(&http.Client{Transport: wire}),
	)
	if err != nil {
		return err
	}
	say("2. A confidential client for app %s, with client capabilities cp1 (CAE).", clientID)

	// The transport: tokens from the app's client-credentials source, for
	// Graph, sent to Graph's hosts only.
	graph := &http.Client{Transport: &bearer.Transport{
		Source: app.ClientSource(),
		Scopes: []string{"https://graph.microsoft.com/.default"},
		Base:   wire,
	}}

	say("3. List the tenant's users; the first request needs a token:")
	if err := listUsers(ctx, graph, say); err != nil {
		return err
	}

	say("4. Again; the token now comes from the app's cache, so no token request:")
	if err := listUsers(ctx, graph, say); err != nil {
		return err
	}

	srv.Revoke(clientID)
	say("5. The authority revokes the app's session (a continuous access evaluation event).")
	say("   Graph will refuse the cached token with a claims challenge.")

	say("6. List the users again; the transport meets the challenge, gets a token carrying")
	say("   its claims and sends the request once more, without the caller noticing:")
	if err := listUsers(ctx, graph, say); err != nil {
		return err
	}

	tokens := srv.TokenRequests()
	say("Done: %d token requests for 3 Graph calls, one of them recovered from a claims challenge.", tokens)
	if tokens != 2 {
		return fmt.Errorf("expected 2 token requests, the authority saw %d", tokens)
	}
	return nil
}

// listUsers lists the users through Graph and prints their names.
func listUsers(ctx context.Context, graph *http.Client, say func(string, ...any)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://graph.microsoft.com/v1.0/users?$select=displayName", nil)
	if err != nil {
		return err
	}
	resp, err := graph.Do(req)
	if err != nil {
		var ce *bearer.ChallengeError
		if errors.As(err, &ce) {
			return fmt.Errorf("the token source could not satisfy the challenge: %w", ce)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1.0/users: %s", resp.Status)
	}
	var users struct {
		Value []struct {
			DisplayName string `json:"displayName"`
		} `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&users); err != nil {
		return fmt.Errorf("GET /v1.0/users: %w", err)
	}
	var names []string
	for _, u := range users.Value {
		names = append(names, u.DisplayName)
	}
	say("   => %d users: %s", len(names), strings.Join(names, ", "))
	return nil
}

// tracer is an http.RoundTripper that prints each exchange: the request's
// method, host and path, and the answer's status (with what a claims
// challenge asks for). It never prints tokens, secrets or form values.
type tracer struct {
	base http.RoundTripper
	w    io.Writer
}

func (t *tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	what := "request"
	switch {
	case strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token"):
		what = "token request"
	case req.Header.Get("Authorization") != "":
		what = "with a token"
	}
	fmt.Fprintf(t.w, "   -> %s %s%s (%s)\n", req.Method, req.URL.Host, req.URL.Path, what)
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		fmt.Fprintf(t.w, "   <- error: %v\n", err)
		return nil, err
	}
	fmt.Fprintf(t.w, "   <- %s\n", resp.Status)
	for _, c := range challenge.FromResponse(resp) {
		if c.IsCAE() {
			claims, _ := c.Claims()
			fmt.Fprintf(t.w, "      claims challenge: error=%q claims=%s\n", c.Param("error"), claims)
		}
	}
	return resp, nil
}
