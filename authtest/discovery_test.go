package authtest_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

func TestOpenIDConfiguration(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name      string
		url       string
		issuer    string
		token     string
		jwks      string
		authMeths []string
	}{
		{"tenant", srv.Authority(contosoTID) + "/v2.0/.well-known/openid-configuration", srv.URL + "/" + contosoTID + "/v2.0",
			srv.URL + "/" + contosoTID + "/oauth2/v2.0/token", srv.URL + "/" + contosoTID + "/discovery/v2.0/keys", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}},
		{"domain", srv.Authority("contoso.com") + "/v2.0/.well-known/openid-configuration", srv.URL + "/" + contosoTID + "/v2.0",
			srv.URL + "/contoso.com/oauth2/v2.0/token", srv.URL + "/contoso.com/discovery/v2.0/keys", nil},
		{"common", srv.Authority("common") + "/v2.0/.well-known/openid-configuration", srv.URL + "/{tenantid}/v2.0",
			srv.URL + "/common/oauth2/v2.0/token", "", nil},
		{"organizations", srv.Authority("organizations") + "/v2.0/.well-known/openid-configuration", srv.URL + "/{tenantid}/v2.0",
			srv.URL + "/organizations/oauth2/v2.0/token", "", nil},
		{"consumers", srv.Authority("consumers") + "/v2.0/.well-known/openid-configuration", srv.URL + "/" + authtest.ConsumersTenant + "/v2.0",
			srv.URL + "/consumers/oauth2/v2.0/token", "", nil},
		{"b2c", srv.B2CAuthority("contosob2c.onmicrosoft.com", "B2C_1_signin") + "/v2.0/.well-known/openid-configuration", "",
			srv.URL + "/contosob2c.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token", srv.URL + "/contosob2c.onmicrosoft.com/B2C_1_signin/discovery/v2.0/keys", nil},
		{"b2c_tfp", srv.URL + "/tfp/contosob2c.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration", "",
			srv.URL + "/tfp/contosob2c.onmicrosoft.com/B2C_1_signin/oauth2/v2.0/token", "", nil},
		{"adfs", srv.ADFSAuthority() + "/.well-known/openid-configuration", srv.URL + "/adfs",
			srv.URL + "/adfs/oauth2/token", srv.URL + "/adfs/discovery/keys", nil},
		{"oidc", srv.OIDCIssuer() + "/.well-known/openid-configuration", srv.URL + "/oidc",
			srv.URL + "/oidc/token", srv.URL + "/oidc/keys", []string{"client_secret_basic", "private_key_jwt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, srv, tt.url)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if tt.issuer != "" && r.str("issuer") != tt.issuer {
				t.Errorf("issuer = %q, want %q", r.str("issuer"), tt.issuer)
			}
			if r.str("token_endpoint") != tt.token {
				t.Errorf("token_endpoint = %q, want %q", r.str("token_endpoint"), tt.token)
			}
			if tt.jwks != "" && r.str("jwks_uri") != tt.jwks {
				t.Errorf("jwks_uri = %q, want %q", r.str("jwks_uri"), tt.jwks)
			}
			if tt.authMeths != nil && strings.Join(toStrings(r.body["token_endpoint_auth_methods_supported"]), " ") != strings.Join(tt.authMeths, " ") {
				t.Errorf("token_endpoint_auth_methods_supported = %v", r.body["token_endpoint_auth_methods_supported"])
			}
			for _, k := range []string{"authorization_endpoint", "jwks_uri"} {
				if r.str(k) == "" {
					t.Errorf("no %s", k)
				}
			}
			// The endpoints the document names answer.
			if k := get(t, srv, r.str("jwks_uri")); k.status != 200 {
				t.Errorf("jwks_uri answers %d", k.status)
			}
		})
	}
	t.Run("b2c_issuer", func(t *testing.T) {
		r := get(t, srv, srv.B2CAuthority("contosob2c.onmicrosoft.com", "B2C_1_signin")+"/v2.0/.well-known/openid-configuration")
		want := srv.URL + "/" + srv.TenantID("contosob2c.onmicrosoft.com") + "/v2.0/"
		if r.str("issuer") != want {
			t.Errorf("issuer = %q, want %q", r.str("issuer"), want)
		}
	})
	t.Run("unknown_paths", func(t *testing.T) {
		for _, p := range []string{"/", "/contoso.com", "/contoso.com/oauth2/v2.0/nothing", "/adfs/nothing", "/oidc/nothing", "/metadata/nothing", "/devicelogin/x", "/contoso.com/notb2c/v2.0/.well-known/openid-configuration"} {
			if r := get(t, srv, srv.URL+p); r.status != 404 {
				t.Errorf("%s: %d, want 404", p, r.status)
			}
		}
	})
}

func TestKeys(t *testing.T) {
	srv := newServer(t)
	keys := func() []map[string]any {
		r := get(t, srv, srv.Authority(contosoTID)+"/discovery/v2.0/keys")
		var out []map[string]any
		for _, k := range r.body["keys"].([]any) {
			out = append(out, k.(map[string]any))
		}
		return out
	}
	ks := keys()
	if len(ks) != 1 {
		t.Fatalf("%d keys, want 1", len(ks))
	}
	k := ks[0]
	if _, ok := k["alg"]; ok {
		t.Errorf("key has alg; Entra publishes none")
	}
	if k["kty"] != "RSA" || k["use"] != "sig" || k["kid"] == "" || k["x5t"] != k["kid"] || k["n"] == "" || k["e"] != "AQAB" || len(toStrings(k["x5c"])) != 1 {
		t.Errorf("key = %v", k)
	}
	tok := appToken(t, srv, "https://graph.microsoft.com/.default").str("access_token")
	if jwtHeader(t, tok)["kid"] != k["kid"] {
		t.Errorf("token kid %v is not the published key %v", jwtHeader(t, tok)["kid"], k["kid"])
	}
	srv.RotateKeys()
	ks = keys()
	if len(ks) != 2 || ks[1]["kid"] != k["kid"] || ks[0]["kid"] == k["kid"] {
		t.Fatalf("after rotation: %v", ks)
	}
	if _, err := srv.Verify(tok); err != nil {
		t.Errorf("token of the previous key: %v", err)
	}
	tok2 := appToken(t, srv, "https://graph.microsoft.com/.default").str("access_token")
	if jwtHeader(t, tok2)["kid"] != ks[0]["kid"] {
		t.Errorf("new tokens are not signed with the new key")
	}
	srv.RotateKeys()
	if _, err := srv.Verify(tok); err == nil {
		t.Errorf("a token of a key rotated out twice still verifies")
	}
	if _, err := srv.Verify(tok2); err != nil {
		t.Errorf("token of the previous key: %v", err)
	}
}

func TestInstanceDiscovery(t *testing.T) {
	srv := newServer(t)
	disc := func(ae string) response {
		return get(t, srv, srv.URL+"/common/discovery/instance?api-version=1.1&authorization_endpoint="+url.QueryEscape(ae))
	}
	t.Run("public_cloud", func(t *testing.T) {
		r := disc("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize")
		if r.status != 200 || r.str("tenant_discovery_endpoint") != "https://login.microsoftonline.com/contoso.com/v2.0/.well-known/openid-configuration" || r.str("api-version") != "1.1" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		meta := r.body["metadata"].([]any)
		first := meta[0].(map[string]any)
		if first["preferred_network"] != "login.microsoftonline.com" || first["preferred_cache"] != "login.windows.net" || len(toStrings(first["aliases"])) != 4 {
			t.Errorf("metadata[0] = %v", first)
		}
	})
	t.Run("own_host", func(t *testing.T) {
		host := strings.TrimPrefix(srv.URL, "http://")
		r := disc(srv.URL + "/contoso.com/oauth2/v2.0/authorize")
		if r.status != 200 || !strings.Contains(r.raw, `"preferred_network":"`+host+`"`) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("unknown_host", func(t *testing.T) {
		disc("https://login.example.com/contoso/oauth2/v2.0/authorize").wantError(t, 400, "invalid_instance", 50049)
	})
	t.Run("missing_parameter", func(t *testing.T) {
		get(t, srv, srv.URL+"/common/discovery/instance?api-version=1.1").wantError(t, 400, "invalid_request", 900144)
	})
	t.Run("relative_endpoint", func(t *testing.T) {
		disc("/contoso/oauth2/v2.0/authorize").wantError(t, 400, "invalid_instance", 50049)
	})
}

func TestUserRealm(t *testing.T) {
	srv := newServer(t)
	r := get(t, srv, srv.URL+"/common/userrealm/"+aliceName+"?api-version=1.0")
	if r.str("account_type") != "Managed" || r.str("domain_name") != "contoso.com" || r.str("cloud_audience_urn") != "urn:federation:MicrosoftOnline" {
		t.Errorf("%s", r.raw)
	}
	if r := get(t, srv, srv.URL+"/common/userrealm/x@unknown.example?api-version=1.0"); r.str("account_type") != "Unknown" {
		t.Errorf("%s", r.raw)
	}
}

func TestTenantID(t *testing.T) {
	srv := newServer(t)
	srv.AddTenantName("fabrikam.onmicrosoft.com", "1d2e3f4a-0000-4000-8000-000000000009")
	tests := []struct{ in, want string }{
		{contosoTID, contosoTID},
		{strings.ToUpper(contosoTID), contosoTID},
		{"contoso.com", contosoTID},
		{"common", "common"},
		{"Organizations", "organizations"},
		{"consumers", authtest.ConsumersTenant},
		{"fabrikam.onmicrosoft.com", "1d2e3f4a-0000-4000-8000-000000000009"},
	}
	for _, tt := range tests {
		if got := srv.TenantID(tt.in); got != tt.want {
			t.Errorf("TenantID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	a, b := srv.TenantID("unknown.example"), srv.TenantID("UNKNOWN.example")
	if a != b || len(a) != 36 {
		t.Errorf("derived tenant IDs %q, %q: want one stable GUID", a, b)
	}
	if srv2 := newServer(t); srv2.TenantID("unknown.example") != a {
		t.Errorf("derived tenant ID differs between servers")
	}
}
