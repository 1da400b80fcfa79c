package oauth2x_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/bearerhttp/bearer/oauth2x"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ExampleSource drives bearer.Transport with x/oauth2's client
// credentials. Config.Token fetches on every call and
// bearer.ReuseTokenSource caches, so an invalid_token challenge from the
// resource really gets a new token.
func ExampleSource() {
	// A local authority posing as login.microsoftonline.com and
	// graph.microsoft.com; against Entra ID, leave out the HTTP client.
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())

	cfg := &clientcredentials.Config{
		ClientID:     "my-daemon",
		ClientSecret: "s3cret",
		TokenURL:     "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token",
		Scopes:       []string{"https://graph.microsoft.com/.default"},
	}
	client := &http.Client{Transport: &bearer.Transport{
		Source: bearer.ReuseTokenSource(oauth2x.Source(oauth2x.TokenSourceFunc(func() (*oauth2.Token, error) {
			return cfg.Token(ctx)
		}))),
		Scopes: cfg.Scopes,             // the token goes to graph.microsoft.com only
		Base:   srv.Client().Transport, // leave out against Entra ID
	}}
	for range 2 {
		resp, err := client.Get("https://graph.microsoft.com/v1.0/users")
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	fmt.Println("token requests:", srv.TokenRequests())
	// Output:
	// 200 OK
	// 200 OK
	// token requests: 1
}

// ExampleTokenSource hands a flow application's tokens to code built on
// golang.org/x/oauth2.
func ExampleTokenSource() {
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithHTTPClient(srv.Client())) // leave out against Entra ID
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	ts := oauth2x.TokenSource(ctx, app.ClientSource(), "https://graph.microsoft.com/.default")
	tok, err := ts.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), tok.Valid())

	// Any x/oauth2 consumer takes it, such as oauth2.NewClient. (Its
	// transport puts the token on every request, redirects to other hosts
	// included: prefer bearer.Transport where the client is yours.)
	ctx = context.WithValue(ctx, oauth2.HTTPClient, srv.Client())
	resp, err := oauth2.NewClient(ctx, ts).Get("https://graph.microsoft.com/v1.0/users")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "token requests:", srv.TokenRequests())
	// Output:
	// Bearer true
	// 200 OK token requests: 1
}
