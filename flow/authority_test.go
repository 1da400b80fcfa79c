package flow

import (
	"errors"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/credential"
)

func TestParseAuthority(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		oidc   bool
		want   authority
		known  bool
		region bool
	}{
		{"public_cloud_tenant_id", "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47",
			false, authority{kindEntra, "https", "login.microsoftonline.com", "72f988bf-86f1-41af-91ab-2d7cd011db47", "", false, "/72f988bf-86f1-41af-91ab-2d7cd011db47"}, true, true},
		{"public_cloud_domain_trailing_slash_upper_host", "https://LOGIN.microsoftonline.com/contoso.onmicrosoft.com/",
			false, authority{kindEntra, "https", "login.microsoftonline.com", "contoso.onmicrosoft.com", "", false, "/contoso.onmicrosoft.com"}, true, true},
		{"tenant_lower_cased", "https://login.microsoftonline.com/Contoso.OnMicrosoft.com",
			false, authority{kindEntra, "https", "login.microsoftonline.com", "contoso.onmicrosoft.com", "", false, "/contoso.onmicrosoft.com"}, true, true},
		{"b2c_tenant_lower_cased_policy_kept", "https://fabrikamb2c.b2clogin.com/FabrikamB2C.onmicrosoft.com/B2C_1_SignUpSignIn",
			false, authority{kindB2C, "https", "fabrikamb2c.b2clogin.com", "fabrikamb2c.onmicrosoft.com", "B2C_1_SignUpSignIn", false, "/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn"}, false, false},
		{"ciam_tenant_lower_cased", "https://contoso.ciamlogin.com/Contoso.onmicrosoft.com", false, authority{kindCIAM, "https", "contoso.ciamlogin.com", "contoso.onmicrosoft.com", "", false, "/contoso.onmicrosoft.com"}, false, false},
		{"common", "https://login.microsoftonline.com/common", false, authority{kindEntra, "https", "login.microsoftonline.com", "common", "", false, "/common"}, true, true},
		{"organizations", "https://login.microsoftonline.com/organizations", false, authority{kindEntra, "https", "login.microsoftonline.com", "organizations", "", false, "/organizations"}, true, true},
		{"consumers", "https://login.microsoftonline.com/consumers", false, authority{kindEntra, "https", "login.microsoftonline.com", "consumers", "", false, "/consumers"}, true, true},
		{"alias_login_windows_net", "https://login.windows.net/contoso.com", false, authority{kindEntra, "https", "login.windows.net", "contoso.com", "", false, "/contoso.com"}, true, true},
		{"alias_sts_windows_net", "https://sts.windows.net/contoso.com", false, authority{kindEntra, "https", "sts.windows.net", "contoso.com", "", false, "/contoso.com"}, true, true},
		{"us_government", "https://login.microsoftonline.us/contoso.us", false, authority{kindEntra, "https", "login.microsoftonline.us", "contoso.us", "", false, "/contoso.us"}, true, true},
		{"china_legacy_alias", "https://login.chinacloudapi.cn/contoso.cn", false, authority{kindEntra, "https", "login.chinacloudapi.cn", "contoso.cn", "", false, "/contoso.cn"}, true, true},
		{"known_host_port_443", "https://login.microsoftonline.com:443/contoso.com", false, authority{kindEntra, "https", "login.microsoftonline.com:443", "contoso.com", "", false, "/contoso.com"}, true, true},
		{"known_host_other_port_is_unknown", "https://login.microsoftonline.com:8443/contoso.com", false, authority{kindEntra, "https", "login.microsoftonline.com:8443", "contoso.com", "", false, "/contoso.com"}, false, true},
		{"unknown_host", "https://login.contoso.example/tenant", false, authority{kindEntra, "https", "login.contoso.example", "tenant", "", false, "/tenant"}, false, true},
		{"loopback_http", "http://127.0.0.1:8080/tenant", false, authority{kindEntra, "http", "127.0.0.1:8080", "tenant", "", false, "/tenant"}, false, false},
		{"loopback_ipv6_http", "http://[::1]:8080/tenant", false, authority{kindEntra, "http", "[::1]:8080", "tenant", "", false, "/tenant"}, false, false},
		{"localhost_http", "http://localhost/tenant", false, authority{kindEntra, "http", "localhost", "tenant", "", false, "/tenant"}, false, false},
		{"b2c_b2clogin", "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn",
			false, authority{kindB2C, "https", "fabrikamb2c.b2clogin.com", "fabrikamb2c.onmicrosoft.com", "B2C_1_SignUpSignIn", false, "/fabrikamb2c.onmicrosoft.com/B2C_1_SignUpSignIn"}, false, false},
		{"b2c_b2clogin_custom_policy_name", "https://fabrikamb2c.b2clogin.cn/tenant/my_policy",
			false, authority{kindB2C, "https", "fabrikamb2c.b2clogin.cn", "tenant", "my_policy", false, "/tenant/my_policy"}, false, false},
		{"b2c_tfp", "https://login.microsoftonline.com/tfp/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn",
			false, authority{kindB2C, "https", "login.microsoftonline.com", "fabrikamb2c.onmicrosoft.com", "B2C_1_SignIn", true, "/tfp/fabrikamb2c.onmicrosoft.com/B2C_1_SignIn"}, false, false},
		{"b2c_custom_domain_by_policy_name", "https://login.fabrikam.example/tenant/b2c_1_susi",
			false, authority{kindB2C, "https", "login.fabrikam.example", "tenant", "b2c_1_susi", false, "/tenant/b2c_1_susi"}, false, false},
		{"b2c_loopback", "http://127.0.0.1:9/contoso.onmicrosoft.com/B2C_1_x",
			false, authority{kindB2C, "http", "127.0.0.1:9", "contoso.onmicrosoft.com", "B2C_1_x", false, "/contoso.onmicrosoft.com/B2C_1_x"}, false, false},
		{"ciam_tenant_from_subdomain", "https://contoso.ciamlogin.com/", false, authority{kindCIAM, "https", "contoso.ciamlogin.com", "contoso.onmicrosoft.com", "", false, "/contoso.onmicrosoft.com"}, false, false},
		{"ciam_no_slash", "https://contoso.ciamlogin.com", false, authority{kindCIAM, "https", "contoso.ciamlogin.com", "contoso.onmicrosoft.com", "", false, "/contoso.onmicrosoft.com"}, false, false},
		{"ciam_tenant_id", "https://contoso.ciamlogin.com/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", false, authority{kindCIAM, "https", "contoso.ciamlogin.com", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "", false, "/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}, false, false},
		{"adfs", "https://fs.contoso.com/adfs", false, authority{kindADFS, "https", "fs.contoso.com", "adfs", "", false, "/adfs"}, false, false},
		{"adfs_upper_trailing_slash", "https://fs.contoso.com/ADFS/", false, authority{kindADFS, "https", "fs.contoso.com", "adfs", "", false, "/adfs"}, false, false},
		{"oidc_root", "https://accounts.example.com", true, authority{kindOIDC, "https", "accounts.example.com", "", "", false, ""}, false, false},
		{"oidc_path", "https://idp.example.com/realms/main/", true, authority{kindOIDC, "https", "idp.example.com", "", "", false, "/realms/main"}, false, false},
		{"oidc_loopback", "http://127.0.0.1:5556/dex", true, authority{kindOIDC, "http", "127.0.0.1:5556", "", "", false, "/dex"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthority(tt.raw, tt.oidc)
			if err != nil {
				t.Fatalf("parseAuthority: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseAuthority =\n%+v\nwant\n%+v", got, tt.want)
			}
			if got.known() != tt.known {
				t.Errorf("known() = %v, want %v", got.known(), tt.known)
			}
			if got.supportsRegion() != tt.region {
				t.Errorf("supportsRegion() = %v, want %v", got.supportsRegion(), tt.region)
			}
			// The canonical form parses to the same authority.
			again, err := parseAuthority(got.String(), tt.oidc)
			if err != nil || again != got {
				t.Errorf("canonical %q parses to %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseAuthorityBroken(t *testing.T) {
	tests := []struct {
		name, raw string
		oidc      bool
		says      string
	}{
		{"empty", "", false, "empty"},
		{"spaces", "   ", false, "empty"},
		{"not_a_url", "https://login.microsoftonline.com/%zz", false, "not a URL"},
		{"relative", "login.microsoftonline.com/common", false, "absolute"},
		{"no_host", "https:///common", false, "absolute"},
		{"opaque", "mailto:someone@example.com", false, "absolute"},
		{"plain_http", "http://login.microsoftonline.com/common", false, "https"},
		{"plain_http_private_ip", "http://10.0.0.1/common", false, "https"},
		{"plain_http_loopback_lookalike", "http://127.0.0.1.evil.example/common", false, "https"},
		{"ftp", "ftp://login.microsoftonline.com/common", false, "not https"},
		{"user_info", "https://user:pw@login.microsoftonline.com/common", false, "user information"},
		{"query", "https://login.microsoftonline.com/common?x=1", false, "query"},
		{"empty_query", "https://login.microsoftonline.com/common?", false, "query"},
		{"fragment", "https://login.microsoftonline.com/common#x", false, "fragment"},
		{"no_tenant", "https://login.microsoftonline.com", false, "no tenant"},
		{"no_tenant_slash", "https://login.microsoftonline.com/", false, "no tenant"},
		{"extra_segment", "https://login.microsoftonline.com/contoso.com/v2.0", false, "nothing after the tenant"},
		{"double_slash", "https://login.microsoftonline.com//common", false, "empty path segment"},
		{"escaped_path", "https://login.microsoftonline.com/con%2Ftoso", false, "escaped"},
		{"bad_tenant_chars", "https://login.microsoftonline.com/con toso", false, ""},
		{"dot_dot_tenant", "https://login.microsoftonline.com/..", false, "not a tenant"},
		{"tenant_with_at", "https://login.microsoftonline.com/a@b", false, "not a tenant"},
		{"adfs_extra", "https://fs.contoso.com/adfs/oauth2", false, "nothing after adfs"},
		{"tfp_short", "https://login.microsoftonline.com/tfp/tenant", false, "/tfp/{tenant}/{policy}"},
		{"tfp_long", "https://login.microsoftonline.com/tfp/tenant/policy/x", false, "/tfp/{tenant}/{policy}"},
		{"b2c_no_policy", "https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com", false, "{tenant}/{policy}"},
		{"b2c_too_long", "https://fabrikamb2c.b2clogin.com/t/B2C_1_x/v2.0", false, "{tenant}/{policy}"},
		{"ciam_bare_domain", "https://ciamlogin.com", false, ""},
		{"ciam_nested_subdomain_without_tenant", "https://a.b.ciamlogin.com/", false, "tenant"},
		{"ciam_extra", "https://contoso.ciamlogin.com/t/x", false, "ciamlogin.com/{tenant}"},
		{"bad_host_chars", "https://!.ciamlogin.com", false, "bad host"},
		{"empty_port", "https://login.microsoftonline.com:/common", false, "bad host"},
		{"oidc_nul_in_path", "https://accounts.example.com/a%00b", true, "control characters"},
		{"oidc_http", "http://accounts.example.com", true, "https"},
		{"oidc_query", "https://accounts.example.com/?a=b", true, "query"},
		{"oidc_double_slash", "https://accounts.example.com//x", true, "empty path segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthority(tt.raw, tt.oidc)
			if err == nil {
				t.Fatalf("parseAuthority(%q) = %+v, want an error", tt.raw, got)
			}
			if !errors.Is(err, ErrInvalidAuthority) {
				t.Errorf("error %v does not wrap ErrInvalidAuthority", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
		})
	}
}

func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{
		"https://login.microsoftonline.com/common", "https://login.microsoftonline.com/tfp/t/p",
		"https://fabrikamb2c.b2clogin.com/t/B2C_1_x", "https://contoso.ciamlogin.com/", "https://fs.contoso.com/adfs",
		"http://127.0.0.1:8080/tenant", "https://accounts.example.com/realms/x", "https://a/%zz", "http://[::1]:1/x",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, oidc bool) {
		a, err := parseAuthority(raw, oidc)
		if err != nil {
			if !errors.Is(err, ErrInvalidAuthority) {
				t.Fatalf("error %v does not wrap ErrInvalidAuthority", err)
			}
			return
		}
		if a.scheme != "https" && !(a.scheme == "http" && a.loopback()) {
			t.Fatalf("accepted %q with scheme %q", raw, a.scheme)
		}
		again, err := parseAuthority(a.String(), oidc)
		if err != nil || again != a {
			t.Fatalf("canonical form %q of %q parses to %+v, %v; want %+v", a.String(), raw, again, err, a)
		}
		if e, ok := a.staticEndpoints(); ok {
			if !strings.HasPrefix(e.token, a.String()+"/") {
				t.Fatalf("token endpoint %q is not under %q", e.token, a)
			}
		}
	})
}

func TestStaticEndpoints(t *testing.T) {
	tests := []struct {
		raw                                                     string
		authorize, token, deviceCode, endSession, jwks, envHost string
	}{
		{"https://login.microsoftonline.com/contoso.com",
			"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/authorize",
			"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token",
			"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/devicecode",
			"https://login.microsoftonline.com/contoso.com/oauth2/v2.0/logout",
			"https://login.microsoftonline.com/contoso.com/discovery/v2.0/keys", "login.microsoftonline.com"},
		{"https://login.microsoftonline.us/t",
			"https://login.microsoftonline.us/t/oauth2/v2.0/authorize", "https://login.microsoftonline.us/t/oauth2/v2.0/token",
			"https://login.microsoftonline.us/t/oauth2/v2.0/devicecode", "https://login.microsoftonline.us/t/oauth2/v2.0/logout",
			"https://login.microsoftonline.us/t/discovery/v2.0/keys", "login.microsoftonline.us"},
		{"https://contoso.ciamlogin.com",
			"https://contoso.ciamlogin.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
			"https://contoso.ciamlogin.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
			"https://contoso.ciamlogin.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode",
			"https://contoso.ciamlogin.com/contoso.onmicrosoft.com/oauth2/v2.0/logout",
			"https://contoso.ciamlogin.com/contoso.onmicrosoft.com/discovery/v2.0/keys", "contoso.ciamlogin.com"},
		{"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI",
			"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI/oauth2/v2.0/authorize",
			"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI/oauth2/v2.0/token", "",
			"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI/oauth2/v2.0/logout",
			"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/B2C_1_SUSI/discovery/v2.0/keys", "fabrikamb2c.b2clogin.com"},
		{"https://login.microsoftonline.com/tfp/t/B2C_1_x",
			"https://login.microsoftonline.com/tfp/t/B2C_1_x/oauth2/v2.0/authorize",
			"https://login.microsoftonline.com/tfp/t/B2C_1_x/oauth2/v2.0/token", "",
			"https://login.microsoftonline.com/tfp/t/B2C_1_x/oauth2/v2.0/logout",
			"https://login.microsoftonline.com/tfp/t/B2C_1_x/discovery/v2.0/keys", "login.microsoftonline.com"},
		{"https://fs.contoso.com/adfs",
			"https://fs.contoso.com/adfs/oauth2/authorize", "https://fs.contoso.com/adfs/oauth2/token",
			"https://fs.contoso.com/adfs/oauth2/devicecode", "https://fs.contoso.com/adfs/oauth2/logout",
			"https://fs.contoso.com/adfs/discovery/keys", "fs.contoso.com"},
	}
	for _, tt := range tests {
		a, err := parseAuthority(tt.raw, false)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := a.staticEndpoints()
		if !ok {
			t.Fatalf("%s: no static endpoints", tt.raw)
		}
		got := []string{e.authorization, e.token, e.deviceCode, e.endSession, e.jwks, e.environment}
		want := []string{tt.authorize, tt.token, tt.deviceCode, tt.endSession, tt.jwks, tt.envHost}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: endpoint %d = %q, want %q", tt.raw, i, got[i], want[i])
			}
		}
	}
	for _, raw := range []string{"https://login.contoso.example/t", "http://127.0.0.1:1/t"} {
		a, _ := parseAuthority(raw, false)
		if _, ok := a.staticEndpoints(); ok {
			t.Errorf("%s: static endpoints for a host that needs discovery", raw)
		}
	}
	a, _ := parseAuthority("https://accounts.example.com", true)
	if _, ok := a.staticEndpoints(); ok {
		t.Error("static endpoints for an OIDC authority")
	}
}

func TestWithTenant(t *testing.T) {
	tests := []struct {
		name, authority, tenant string
		oidc                    bool
		want                    string // the resulting authority, "" for an error
	}{
		{"entra_switch", "https://login.microsoftonline.com/common", "contoso.com", false, "https://login.microsoftonline.com/contoso.com"},
		{"entra_switch_tenant_id", "https://login.microsoftonline.com/organizations", "72f988bf-86f1-41af-91ab-2d7cd011db47", false, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47"},
		{"entra_same_tenant", "https://login.microsoftonline.com/contoso.com", "CONTOSO.com", false, "https://login.microsoftonline.com/contoso.com"},
		{"entra_switch_lower_cased", "https://login.microsoftonline.com/common", "Fabrikam.COM", false, "https://login.microsoftonline.com/fabrikam.com"},
		{"entra_empty_changes_nothing", "https://login.microsoftonline.com/contoso.com", "", false, "https://login.microsoftonline.com/contoso.com"},
		{"unknown_host_switch", "https://login.contoso.example/a", "b", false, "https://login.contoso.example/b"},
		{"ciam_switch", "https://contoso.ciamlogin.com/", "other.onmicrosoft.com", false, "https://contoso.ciamlogin.com/other.onmicrosoft.com"},
		{"adfs_empty_is_fine", "https://fs.contoso.com/adfs", "", false, "https://fs.contoso.com/adfs"},
		{"to_common_refused", "https://login.microsoftonline.com/contoso.com", "common", false, ""},
		{"to_organizations_refused", "https://login.microsoftonline.com/contoso.com", "organizations", false, ""},
		{"to_consumers_refused", "https://login.microsoftonline.com/contoso.com", "Consumers", false, ""},
		{"from_consumers_refused", "https://login.microsoftonline.com/consumers", "contoso.com", false, ""},
		{"bad_tenant_refused", "https://login.microsoftonline.com/common", "a/b", false, ""},
		{"b2c_refused", "https://fabrikamb2c.b2clogin.com/t/B2C_1_x", "other", false, ""},
		{"adfs_refused", "https://fs.contoso.com/adfs", "contoso.com", false, ""},
		{"oidc_refused", "https://accounts.example.com", "contoso.com", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAuthority(tt.authority, tt.oidc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.withTenant(tt.tenant)
			if tt.want == "" {
				if !errors.Is(err, ErrTenantNotSupported) {
					t.Fatalf("withTenant(%q) = %v, %v; want ErrTenantNotSupported", tt.tenant, got, err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("withTenant(%q) = %v, %v; want %s", tt.tenant, got, err, tt.want)
			}
		})
	}
}

func TestIssuerForTenant(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	got, err := issuerForTenant("https://login.microsoftonline.com/{tenantid}/v2.0", tid)
	if err != nil || got != "https://login.microsoftonline.com/"+tid+"/v2.0" {
		t.Errorf("issuerForTenant = %q, %v", got, err)
	}
	got, err = issuerForTenant("https://login.microsoftonline.com/"+tid+"/v2.0", "other")
	if err != nil || got != "https://login.microsoftonline.com/"+tid+"/v2.0" {
		t.Errorf("issuer without template = %q, %v", got, err)
	}
	for _, bad := range []string{"", "a/b", "..", "x?y", "evil.example/x"} {
		if got, err := issuerForTenant("https://login.microsoftonline.com/{tenantid}/v2.0", bad); err == nil {
			t.Errorf("tid %q accepted: %q", bad, got)
		}
	}
}

func TestRegionalTokenAndAudience(t *testing.T) {
	tests := []struct {
		raw, region, want string
	}{
		{"https://login.microsoftonline.com/contoso.com", "westus2", "https://westus2.login.microsoft.com/contoso.com/oauth2/v2.0/token"},
		{"https://login.windows.net/contoso.com", "westus2", "https://westus2.login.microsoft.com/contoso.com/oauth2/v2.0/token"},
		{"https://login.microsoftonline.us/contoso.com", "usgovvirginia", "https://usgovvirginia.login.microsoftonline.us/contoso.com/oauth2/v2.0/token"},
		{"https://login.chinacloudapi.cn/contoso.com", "chinanorth", "https://chinanorth.login.chinacloudapi.cn/contoso.com/oauth2/v2.0/token"},
		{"https://login.microsoftonline.com/contoso.com", "", ""},
		{"https://fabrikamb2c.b2clogin.com/t/B2C_1_x", "westus2", ""},
		{"https://contoso.ciamlogin.com/", "westus2", ""},
		{"https://fs.contoso.com/adfs", "westus2", ""},
		{"http://127.0.0.1:1/contoso.com", "westus2", ""},
	}
	for _, tt := range tests {
		a, err := parseAuthority(tt.raw, false)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := a.staticEndpoints()
		if e == nil {
			e = &endpoints{authority: a, token: a.String() + "/oauth2/v2.0/token"}
		}
		got, ok := e.regionalToken(tt.region)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s in %q: regionalToken = %q, %v; want %q", tt.raw, tt.region, got, ok, tt.want)
		}
		if tt.want != "" {
			r := e.credentialRequest("cid", got, nil)
			if r.Audience != e.token || r.TokenEndpoint != got || r.Kind != credential.Entra || r.ClientID != "cid" {
				t.Errorf("%s: credential request %+v: audience must be the global %q", tt.raw, r, e.token)
			}
		}
	}
}

func TestCredentialKind(t *testing.T) {
	for raw, want := range map[string]credential.AuthorityKind{
		"https://login.microsoftonline.com/t":        credential.Entra,
		"https://fabrikamb2c.b2clogin.com/t/B2C_1_x": credential.Entra,
		"https://contoso.ciamlogin.com":              credential.Entra,
		"https://fs.contoso.com/adfs":                credential.ADFS,
	} {
		a, _ := parseAuthority(raw, false)
		if got := a.credentialKind(); got != want {
			t.Errorf("%s: credentialKind = %v, want %v", raw, got, want)
		}
	}
	a, _ := parseAuthority("https://accounts.example.com", true)
	if a.credentialKind() != credential.OIDC {
		t.Error("OIDC authority's credential kind is not OIDC")
	}
}

// TestCacheEnvironmentAndRealm: the environment and realm each kind of
// authority caches its tokens under. An OpenID Connect issuer's
// environment is its URL without the scheme (no default port), so that
// issuers sharing a host have refresh tokens and accounts of their own.
func TestCacheEnvironmentAndRealm(t *testing.T) {
	for _, tt := range []struct {
		raw        string
		oidc       bool
		env, realm string
	}{
		{"https://login.microsoftonline.com/Contoso.com", false, "login.microsoftonline.com", "contoso.com"},
		{"https://login.microsoftonline.com:443/common", false, "login.microsoftonline.com", "common"},
		{"https://fs.contoso.com/adfs", false, "fs.contoso.com", "adfs"},
		{"http://127.0.0.1:8443/contoso.com", false, "127.0.0.1", "contoso.com"},
		{"https://accounts.example.com", true, "accounts.example.com", "https://accounts.example.com"},
		{"https://Accounts.Example.com:443/", true, "accounts.example.com", "https://accounts.example.com:443"},
		{"https://idp.example.com/realms/a", true, "idp.example.com/realms/a", "https://idp.example.com/realms/a"},
		{"https://idp.example.com/realms/b/", true, "idp.example.com/realms/b", "https://idp.example.com/realms/b"},
		{"https://idp.example.com:8443/realms/a", true, "idp.example.com:8443/realms/a", "https://idp.example.com:8443/realms/a"},
		{"http://localhost:80/oidc", true, "localhost/oidc", "http://localhost:80/oidc"},
		{"http://[::1]:9000/oidc", true, "[::1]:9000/oidc", "http://[::1]:9000/oidc"},
	} {
		a, err := parseAuthority(tt.raw, tt.oidc)
		if err != nil {
			t.Fatal(err)
		}
		if env, realm := a.environment(), a.realm(); env != tt.env || realm != tt.realm {
			t.Errorf("%s: environment %q and realm %q, want %q and %q", tt.raw, env, realm, tt.env, tt.realm)
		}
	}
}
