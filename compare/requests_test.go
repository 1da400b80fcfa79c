package compare

import (
	"context"
	"slices"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/flow"
)

// endpointsSince lists the endpoints srv was asked for, in order, from
// request number from on.
func endpointsSince(srv *authtest.Server, from int) []string {
	var out []string
	for _, r := range srv.Requests()[from:] {
		out = append(out, r.Host+" "+r.Endpoint)
	}
	return out
}

// TestCompareFirstTokenRequests counts the HTTP requests each library
// makes for its first app token from https://login.microsoftonline.com
// (authtest in TLS mode answers for Entra's real host names), then for a
// token of a second tenant. bearer knows Entra's hosts and endpoints and
// makes the token request only; MSAL Go asks for instance discovery (once
// per host: its cache lookup wants the host's aliases) and for each
// tenant's OpenID configuration before it.
func TestCompareFirstTokenRequests(t *testing.T) {
	const (
		login     = "login.microsoftonline.com"
		discovery = login + " " + authtest.EndpointDiscovery
		config    = login + " " + authtest.EndpointOpenIDConfiguration
		token     = login + " " + authtest.EndpointToken
	)
	tenant1, tenant2 := lookupTenant(1), lookupTenant(2)
	msal := func(opts ...confidential.Option) func(*testing.T, *authtest.Server) func(tenant string) error {
		return func(t *testing.T, srv *authtest.Server) func(string) error {
			app := newMSAL(t, "https://"+login+"/"+tenant1, srv.Client(), opts...)
			return func(tenant string) error {
				_, err := app.AcquireTokenByCredential(context.Background(), graphScopes, confidential.WithTenantID(tenant))
				return err
			}
		}
	}
	for _, tc := range []struct {
		name          string
		app           func(*testing.T, *authtest.Server) func(tenant string) error
		first, second []string
	}{
		{
			name:   "MSAL Go",
			app:    msal(),
			first:  []string{discovery, config, token},
			second: []string{config, token},
		},
		{
			name:   "MSAL Go without instance discovery",
			app:    msal(confidential.WithInstanceDiscovery(false)),
			first:  []string{config, token},
			second: []string{config, token},
		},
		{
			name: "bearer",
			app: func(t *testing.T, srv *authtest.Server) func(string) error {
				app := newBearer(t, "https://"+login+"/"+tenant1, srv.Client())
				return func(tenant string) error {
					_, err := app.AcquireTokenForClient(context.Background(), graphScopes, flow.Tenant(tenant))
					return err
				}
			},
			first:  []string{token},
			second: []string{token},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newAuthority(t)
			get := tc.app(t, srv)
			if err := get(tenant1); err != nil {
				t.Fatal(err)
			}
			if got := endpointsSince(srv, 0); !slices.Equal(got, tc.first) {
				t.Errorf("first token: %d requests %q, want %d %q", len(got), got, len(tc.first), tc.first)
			}
			n := len(srv.Requests())
			if err := get(tenant2); err != nil {
				t.Fatal(err)
			}
			if got := endpointsSince(srv, n); !slices.Equal(got, tc.second) {
				t.Errorf("second tenant: %d requests %q, want %d %q", len(got), got, len(tc.second), tc.second)
			}
			n = len(srv.Requests())
			if err := get(tenant2); err != nil {
				t.Fatal(err)
			}
			if got := endpointsSince(srv, n); len(got) != 0 {
				t.Errorf("cached token: requests %q, want none", got)
			}
		})
	}
}
