package authtest_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

const regionPath = "/metadata/instance/compute/location?format=text&api-version=2021-01-01"

func TestRegion(t *testing.T) {
	srv := authtest.NewServer(t, authtest.WithRegion("westus2"))
	r := get(t, srv, srv.URL+regionPath, "Metadata", "true")
	if r.status != 200 || r.raw != "westus2" {
		t.Fatalf("%d %q", r.status, r.raw)
	}
	if r := get(t, srv, srv.URL+regionPath); r.status != 400 {
		t.Errorf("without Metadata header: %d, want 400", r.status)
	}
	if r := get(t, srv, srv.URL+"/metadata/instance/compute/location?format=text", "Metadata", "true"); r.status != 400 {
		t.Errorf("without api-version: %d, want 400", r.status)
	}
	srv.SetRegion("eastus")
	if r := get(t, srv, srv.URL+regionPath, "Metadata", "true"); r.raw != "eastus" {
		t.Errorf("after SetRegion: %q", r.raw)
	}
	srv.SetRegion("")
	if r := get(t, srv, srv.URL+regionPath, "Metadata", "true"); r.status != 404 {
		t.Errorf("no region: %d, want 404", r.status)
	}
	srv.SetRegion("westus2")
	srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointRegion, Status: 500})
	if r := get(t, srv, srv.URL+regionPath, "Metadata", "true"); r.status != 500 {
		t.Errorf("injected fault: %d", r.status)
	}
}

func TestManagedIdentity(t *testing.T) {
	srv := newServer(t)
	srv.AddManagedIdentity(authtest.ManagedIdentity{ClientID: "77777777-aaaa-4bbb-8ccc-000000000007", ResourceID: "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"})
	now := time.Date(2030, 2, 2, 0, 0, 0, 0, time.UTC)
	srv.SetNow(now)
	mi := func(q url.Values, header ...string) response {
		return get(t, srv, srv.URL+"/metadata/identity/oauth2/token?"+q.Encode(), header...)
	}
	base := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://graph.microsoft.com"}}
	t.Run("system_assigned", func(t *testing.T) {
		r := mi(base, "Metadata", "true")
		if r.status != 200 || r.str("client_id") != authtest.SystemAssignedClientID || r.str("expires_in") != "86400" ||
			r.str("expires_on") != "1896307200" || r.str("not_before") != "1896220800" || r.str("resource") != "https://graph.microsoft.com" || r.str("token_type") != "Bearer" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		c := claims(t, r.str("access_token"))
		if c["idtyp"] != "app" || c["aud"] != authtest.GraphAudience || c["appid"] != authtest.SystemAssignedClientID {
			t.Errorf("claims = %v", c)
		}
	})
	t.Run("user_assigned", func(t *testing.T) {
		for _, sel := range []string{"client_id", "msi_res_id", "mi_res_id"} {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			if sel == "client_id" {
				q.Set(sel, "77777777-aaaa-4bbb-8ccc-000000000007")
			} else {
				q.Set(sel, "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z")
			}
			if r := mi(q, "Metadata", "true"); r.str("client_id") != "77777777-aaaa-4bbb-8ccc-000000000007" {
				t.Errorf("%s: %d %s", sel, r.status, r.raw)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		if r := mi(base); r.status != 400 {
			t.Errorf("no Metadata header: %d", r.status)
		}
		q := url.Values{"api-version": {"2018-02-01"}, "resource": {"https://graph.microsoft.com"}, "client_id": {"unknown"}}
		if r := mi(q, "Metadata", "true"); r.status != 400 || r.str("error") != "invalid_request" {
			t.Errorf("unknown identity: %d %s", r.status, r.raw)
		}
		q = url.Values{"api-version": {"2018-02-01"}, "resource": {"api://nothing"}}
		if r := mi(q, "Metadata", "true"); r.status != 400 || r.str("error") != "invalid_resource" {
			t.Errorf("unknown resource: %d %s", r.status, r.raw)
		}
		if r := mi(url.Values{"resource": {"x"}}, "Metadata", "true"); r.status != 400 {
			t.Errorf("no api-version: %d", r.status)
		}
	})
}
