package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
)

// The default chain on App Service: the platform sets IDENTITY_ENDPOINT
// and IDENTITY_HEADER, so the chain picks the managed identity. Here an
// authtest server stands in for App Service's endpoint, and WithGetenv
// gives the environment it leads to; in production, leave WithGetenv out.
func ExampleNewDefault() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	env := srv.ManagedIdentityEnv(authtest.AppService)

	src, err := flow.NewDefault(flow.WithGetenv(func(k string) string { return env[k] }))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(src.Credential())

	client := &http.Client{Transport: &bearer.Transport{
		Source:       src,
		Scopes:       []string{"https://graph.microsoft.com/.default"},
		AllowedHosts: []string{"127.0.0.1"}, // the stand-in resource; a real one is the scope's host
	}}
	resp, err := client.Get(srv.URL + "/resource/hello")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// managed identity (AppService)
	// 200
}

// Nothing configured: no environment credential, no workload identity,
// and no instance metadata service answers, as on a machine that is not
// in Azure (here every connection goes to a closed loopback port).
func ExampleChainError() {
	offline := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:1")
		},
	}}
	src, err := flow.NewDefault(flow.WithGetenv(func(string) string { return "" }), flow.WithHTTPClient(offline))
	if err != nil {
		log.Fatal(err)
	}
	_, err = src.Token(context.Background(), bearer.TokenRequest{Scopes: []string{"https://graph.microsoft.com/.default"}})
	var ce *flow.ChainError
	if errors.As(err, &ce) {
		for _, a := range ce.Attempts {
			fmt.Println(a.Credential, errors.Is(a.Err, flow.ErrUnavailable))
		}
	}
	// Output:
	// environment true
	// workload identity true
	// managed identity (IMDS) true
}

// A user-assigned identity from the instance metadata service of an Azure
// virtual machine (an authtest stand-in here, named by WithIMDSEndpoint).
func ExampleNewManagedIdentity() {
	srv := authtest.NewServer(nil)
	defer srv.Close()
	srv.AddManagedIdentity(authtest.ManagedIdentity{ClientID: "77777777-aaaa-4bbb-8ccc-000000000007"})

	mi, err := flow.NewManagedIdentity(
		flow.WithUserAssignedClientID("77777777-aaaa-4bbb-8ccc-000000000007"),
		flow.WithIMDSEndpoint(srv.URL),
		flow.WithGetenv(func(string) string { return "" }), // no App Service, Arc... variables here
	)
	if err != nil {
		log.Fatal(err)
	}
	r, err := mi.AcquireToken(context.Background(), "https://graph.microsoft.com/.default")
	if err != nil {
		log.Fatal(err)
	}
	claims, _ := srv.Verify(r.AccessToken)
	fmt.Println(mi.Kind(), claims["appid"])
	// Output:
	// IMDS 77777777-aaaa-4bbb-8ccc-000000000007
}
