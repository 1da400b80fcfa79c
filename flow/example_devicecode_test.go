package flow_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
)

// A command-line tool signs a user in with a device code: it shows the
// user where to go and which code to enter, then waits for the sign-in.
func ExamplePublic_AcquireTokenByDeviceCode() {
	srv := authtest.NewTLSServer(nil, authtest.WithDeviceCodeInterval(time.Second))
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-cli", Public: true})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "alice-PASSWORD", TenantID: "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"})

	app, err := flow.NewPublic("my-cli",
		flow.WithAuthority("https://login.microsoftonline.com/organizations"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r, err := app.AcquireTokenByDeviceCode(ctx, []string{"User.Read"}, func(ctx context.Context, dc flow.DeviceCode) error {
		// A real program shows the message: fmt.Fprintln(os.Stderr, dc.Message)
		// ("To sign in, use a web browser to open the page … and enter the code …").
		_ = dc.Message
		// Here the user signs in on another device; authtest's API plays them.
		return srv.ApproveDeviceCode(dc.UserCode, "alice@contoso.com")
	})
	if err != nil {
		log.Fatal(err) // flow.ErrDeviceCodeExpired, flow.ErrAuthorizationDeclined, ctx's error…
	}
	fmt.Println("signed in:", r.Account.Username)
	// Output: signed in: alice@contoso.com
}
