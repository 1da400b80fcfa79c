package flow_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// A daemon whose tokens are bound to a key of its own (DPoP, RFC 9449):
// the transport sends each request with "Authorization: DPoP <token>" and
// a fresh proof signed with the key, and answers the servers' nonce
// challenges by itself.
func ExampleWithDPoP() {
	// A local authority and resource that support DPoP and demand nonces.
	srv := authtest.NewServer(nil, authtest.WithDPoP())
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "daemon", Secret: "s3cret"})
	srv.AddAPI(authtest.API{Audience: "api://orders", Roles: []string{"Orders.Read.All"}})
	srv.RequireDPoPNonce(authtest.EndpointToken, authtest.EndpointResource)

	// Any crypto.Signer will do: a key in memory, or one in a KMS or an HSM.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	app, err := flow.NewConfidential("daemon", credential.Secret("s3cret"),
		flow.WithOIDCAuthority(srv.OIDCIssuer()), flow.WithDPoP(key))
	if err != nil {
		panic(err)
	}
	ok, err := app.SupportsDPoP(context.Background())
	fmt.Println("the authority supports DPoP:", ok, err)

	client := &http.Client{Transport: &bearer.Transport{
		Source:       app.ClientSource(),
		Scopes:       []string{"api://orders/.default"},
		AllowedHosts: []string{"127.0.0.1"},
	}}
	for range 2 {
		resp, err := client.Get(srv.URL + "/resource/orders")
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	r, err := app.AcquireTokenForClient(context.Background(), []string{"api://orders/.default"})
	fmt.Println("cached token type:", r.TokenType, r.FromCache, err)
	fmt.Println("token requests:", srv.TokenRequests(), "resource requests:", srv.CountRequests(authtest.EndpointResource))
	// Output:
	// the authority supports DPoP: true <nil>
	// 200 OK
	// 200 OK
	// cached token type: DPoP true <nil>
	// token requests: 2 resource requests: 3
}

// A public client (a command-line tool) whose user's tokens are bound to
// its key: the sign-in, AcquireTokenSilent's refreshes and AccountSource's
// requests all prove the key, and the authority binds the user's refresh
// token to it as well.
func ExamplePublic_SupportsDPoP() {
	srv := authtest.NewServer(nil, authtest.WithDPoP())
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "cli", Public: true})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "alice-PASSWORD", TenantID: "contoso"})
	srv.AddAPI(authtest.API{Audience: "api://orders", Scopes: []string{"Orders.Read"}})

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	app, err := flow.NewPublic("cli", flow.WithOIDCAuthority(srv.OIDCIssuer()), flow.WithDPoP(key))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if ok, err := app.SupportsDPoP(ctx); err != nil || !ok {
		fmt.Println("no DPoP at this authority:", err)
		return
	}
	scopes := []string{"api://orders/Orders.Read"}
	r, err := app.AcquireTokenByUsernamePassword(ctx, "alice@contoso.com", "alice-PASSWORD", scopes)
	if err != nil {
		panic(err)
	}
	fmt.Println("signed in, token type:", r.TokenType)

	client := &http.Client{Transport: &bearer.Transport{
		Source:       app.AccountSource(r.Account),
		Scopes:       scopes,
		AllowedHosts: []string{"127.0.0.1"},
	}}
	resp, err := client.Get(srv.URL + "/resource/orders")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "token requests:", srv.TokenRequests())
	// Output:
	// signed in, token type: DPoP
	// 200 OK token requests: 1
}
