// Command graphsdk calls Microsoft Graph through the Graph SDK for Go
// (msgraph-sdk-go) with bearer.Transport under it: the SDK's kiota
// middleware (retries, redirects, compression, telemetry) runs above the
// transport, which puts the token on each request, sends it only to
// Graph's hosts, and answers claims challenges (CAE) by itself.
//
// It needs no Azure tenant: it starts authtest, bearer's local
// Entra-compatible authority, posing as login.microsoftonline.com and
// graph.microsoft.com, lists the users, has the authority revoke the app's
// session and lists them again.
//
//	go run .
//
// This is a module of its own, so that the Graph SDK (which compiles
// slowly) stays out of bearer's dependencies.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "graphsdk:", err)
		os.Exit(1)
	}
}

const (
	clientID = "22222222-3333-4444-5555-666666666666"
	// A made-up secret for the local authority. Real secrets come from a
	// vault or the environment, never from source code.
	clientSecret = "graphsdk-not-a-real-secret"
	tenant       = "contoso.onmicrosoft.com"
)

// graphScopes are the scopes of the tokens for Graph; they also decide
// where bearer.Transport sends them (graph.microsoft.com only).
var graphScopes = []string{"https://graph.microsoft.com/.default"}

// newGraphClient returns a Graph SDK client whose requests pass through
// the SDK's default middleware and then bearer.Transport, with tokens
// from src; base sends them (nil: http.DefaultTransport).
//
// The SDK authenticates nothing itself (an anonymous authentication
// provider): the transport does, so the SDK's requests get what every
// bearer client gets, host safety and claims-challenge recovery. The SDK's
// request adapter also resends a request once when it sees a 401 claims
// challenge; bearer.Transport answers the challenge first, so the adapter
// sees one only when the transport's own resend was refused again, and
// its one resend then goes through the transport once more: never a
// loop.
func newGraphClient(src bearer.TokenSource, base http.RoundTripper) (*msgraphsdk.GraphServiceClient, error) {
	opts := msgraphsdk.GetDefaultClientOptions()
	httpClient := msgraphgocore.GetDefaultClient(&opts)
	httpClient.Transport = khttp.NewCustomTransportWithParentTransport(
		&bearer.Transport{Source: src, Scopes: graphScopes, Base: base},
		msgraphgocore.GetDefaultMiddlewaresWithOptions(&opts)...)
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		&authentication.AnonymousAuthenticationProvider{}, nil, nil, httpClient)
	if err != nil {
		return nil, err
	}
	return msgraphsdk.NewGraphServiceClient(adapter), nil
}

// userNames lists the tenant's users through the SDK and returns their
// display names.
func userNames(ctx context.Context, client *msgraphsdk.GraphServiceClient) ([]string, error) {
	users, err := client.Users().Get(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, u := range users.GetValue() {
		if n := u.GetDisplayName(); n != nil {
			names = append(names, *n)
		}
	}
	return names, nil
}

func run(ctx context.Context, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret, Name: "graphsdk daemon"})
	srv.AddUser(authtest.User{Username: "adele@contoso.onmicrosoft.com", DisplayName: "Adele Vance", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "alex@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", TenantID: srv.TenantID(tenant)})
	say("A local authority posing as login.microsoftonline.com and graph.microsoft.com is up at %s.", srv.URL)

	// The same code as against Entra ID and Graph, apart from the HTTP
	// client and transport that reach the local authority.
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority("https://login.microsoftonline.com/"+tenant),
		flow.WithCapabilities("cp1"), // CAE-ready tokens: the transport answers the challenges
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		return err
	}
	client, err := newGraphClient(app.ClientSource(), srv.Client().Transport)
	if err != nil {
		return err
	}

	list := func(step string) error {
		names, err := userNames(ctx, client)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		say("%s: %d users: %s", step, len(names), strings.Join(names, ", "))
		return nil
	}
	if err := list("Users"); err != nil {
		return err
	}
	srv.Revoke(clientID)
	say("The authority revokes the app's session (a continuous access evaluation event).")
	if err := list("Users after the revocation"); err != nil {
		return err
	}

	var sent []string
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		sent = append(sent, fmt.Sprint(r.Status))
	}
	say("Done: %d token requests; Graph answered %s.", srv.TokenRequests(), strings.Join(sent, ", "))
	return nil
}
