package flow_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
)

// A desktop or command-line tool signs a user in through their browser:
// the application listens on a loopback redirect URI, opens the browser at
// the authorization URL and redeems the code the browser brings back.
// Here authtest is the authority and an HTTP client plays the browser
// (authtest signs the login_hint's user in without a form).
func ExamplePublic_AcquireTokenInteractive() {
	srv := authtest.NewServer(nil) // plain HTTP on 127.0.0.1
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-cli", Public: true, RedirectURIs: []string{"http://localhost"}})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "alice-PASSWORD", TenantID: "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"})

	browser := func(ctx context.Context, url string) error {
		resp, err := http.Get(url) // follows the authority's redirect to the loopback server
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body) // "You have signed in. You can close this window…"
		return err
	}
	app, err := flow.NewPublic("my-cli",
		flow.WithAuthority(srv.Authority("organizations")),
		flow.WithBrowser(browser)) // the default opens the user's browser (flow.OpenBrowser)
	if err != nil {
		log.Fatal(err)
	}
	r, err := app.AcquireTokenInteractive(context.Background(), []string{"User.Read"},
		flow.LoginHint("alice@contoso.com"),
		flow.RedirectURI("http://localhost")) // as registered; a free port is picked
	if err != nil {
		log.Fatal(err) // access_denied, flow.ErrSignInTimeout, the context's error…
	}
	fmt.Println("signed in:", r.Account.Username)
	// Output: signed in: alice@contoso.com
}
