package azure_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/azure"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// ExampleCredential gives an Azure SDK pipeline (the one every azcore
// client uses) tokens from a bearer application. Any client option struct
// that takes an azcore.TokenCredential takes it the same way.
func ExampleCredential() {
	// A local authority posing as login.microsoftonline.com and
	// graph.microsoft.com; against Entra ID, leave out the HTTP clients.
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "my-daemon", Secret: "s3cret"})

	app, err := flow.NewConfidential("my-daemon", credential.Secret("s3cret"),
		flow.WithAuthority("https://login.microsoftonline.com/contoso.com"),
		flow.WithCapabilities("cp1"), // CAE-ready tokens: BearerTokenPolicy handles the challenges
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	cred := azure.Credential(app.ClientSource())

	pl := runtime.NewPipeline("example", "v1.0.0", runtime.PipelineOptions{
		PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{"https://graph.microsoft.com/.default"}, nil)},
	}, &policy.ClientOptions{Transport: srv.Client()})
	for range 2 {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, "https://graph.microsoft.com/v1.0/users")
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, err := pl.Do(req)
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

// ExampleSource drives bearer.Transport with an azidentity credential.
// azidentity caches; bearer.ReuseTokenSource keeps the per-request cost
// of a cached token to a map lookup.
func ExampleSource() {
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: "11111111-2222-3333-4444-555555555555", Secret: "s3cret"})

	cred, err := azidentity.NewClientSecretCredential("contoso.com", "11111111-2222-3333-4444-555555555555", "s3cret",
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions: policy.ClientOptions{Transport: srv.Client()}, // leave out against Entra ID
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	client := &http.Client{Transport: &bearer.Transport{
		Source: bearer.ReuseTokenSource(azure.Source(cred)),
		Scopes: []string{"https://graph.microsoft.com/.default"},
		Base:   srv.Client().Transport, // leave out against Entra ID
	}}
	resp, err := client.Get("https://graph.microsoft.com/v1.0/users")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK
}
