package oauth

import (
	"errors"
	"testing"
)

const entraMetadata = `{"token_endpoint":"https://login.microsoftonline.com/common/oauth2/v2.0/token","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],"jwks_uri":"https://login.microsoftonline.com/common/discovery/v2.0/keys","response_modes_supported":["query","fragment","form_post"],"issuer":"https://login.microsoftonline.com/{tenantid}/v2.0","authorization_endpoint":"https://login.microsoftonline.com/common/oauth2/v2.0/authorize","device_authorization_endpoint":"https://login.microsoftonline.com/common/oauth2/v2.0/devicecode","end_session_endpoint":"https://login.microsoftonline.com/common/oauth2/v2.0/logout","tenant_region_scope":null}`

const instanceDiscovery = `{"tenant_discovery_endpoint":"https://login.contoso.example/tenant/v2.0/.well-known/openid-configuration","api-version":"1.1","metadata":[{"preferred_network":"login.microsoftonline.com","preferred_cache":"login.windows.net","aliases":["login.microsoftonline.com","login.windows.net","login.microsoft.com","sts.windows.net"]},{"preferred_network":"login.contoso.example","preferred_cache":"login.contoso.example","aliases":["login.contoso.example"]}]}`

func TestParseMetadata(t *testing.T) {
	m, err := ParseMetadata([]byte(entraMetadata))
	if err != nil {
		t.Fatal(err)
	}
	if m.Issuer != "https://login.microsoftonline.com/{tenantid}/v2.0" ||
		m.TokenEndpoint != "https://login.microsoftonline.com/common/oauth2/v2.0/token" ||
		m.AuthorizationEndpoint != "https://login.microsoftonline.com/common/oauth2/v2.0/authorize" ||
		m.DeviceAuthorizationEndpoint != "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode" ||
		m.EndSessionEndpoint != "https://login.microsoftonline.com/common/oauth2/v2.0/logout" ||
		m.JWKSURI != "https://login.microsoftonline.com/common/discovery/v2.0/keys" ||
		len(m.AuthMethods) != 3 || m.SigningAlgs != nil {
		t.Errorf("ParseMetadata = %+v", m)
	}
	adfs, err := ParseMetadata([]byte(`{"issuer":"https://fs.contoso.com/adfs","access_token_issuer":"http://fs.contoso.com/adfs/services/trust","token_endpoint":"https://fs.contoso.com/adfs/oauth2/token"}`))
	if err != nil || adfs.Issuer != "https://fs.contoso.com/adfs" || adfs.AccessTokenIssuer != "http://fs.contoso.com/adfs/services/trust" {
		t.Errorf("AD FS document: %+v, %v", adfs, err)
	}
	if _, err := ParseMetadata([]byte(`{"token_endpoint":"http://127.0.0.1:8080/t/token"}`)); err != nil {
		t.Errorf("plain http to loopback refused: %v", err)
	}
}

func TestParseMetadataBroken(t *testing.T) {
	for name, body := range map[string]string{
		"empty":                      ``,
		"array":                      `[]`,
		"truncated":                  `{"token_endpoint":"https://a/t"`,
		"no_token_endpoint":          `{"issuer":"https://a"}`,
		"token_endpoint_number":      `{"token_endpoint":1}`,
		"token_endpoint_http":        `{"token_endpoint":"http://login.example/t"}`,
		"token_endpoint_relative":    `{"token_endpoint":"/t/token"}`,
		"token_endpoint_other":       `{"token_endpoint":"ftp://a/t"}`,
		"token_endpoint_userinfo":    `{"token_endpoint":"https://u:p@a/t"}`,
		"authorize_http":             `{"token_endpoint":"https://a/t","authorization_endpoint":"http://a/x"}`,
		"jwks_http":                  `{"token_endpoint":"https://a/t","jwks_uri":"http://evil.example/k"}`,
		"device_http":                `{"token_endpoint":"https://a/t","device_authorization_endpoint":"http://evil.example/d"}`,
		"auth_methods_wrong_type":    `{"token_endpoint":"https://a/t","token_endpoint_auth_methods_supported":"private_key_jwt"}`,
		"signing_algs_wrong_element": `{"token_endpoint":"https://a/t","token_endpoint_auth_signing_alg_values_supported":[1]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if m, err := ParseMetadata([]byte(body)); err == nil {
				t.Fatalf("accepted: %+v", m)
			} else if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
		})
	}
}

func TestParseInstanceDiscovery(t *testing.T) {
	d, err := ParseInstanceDiscovery([]byte(instanceDiscovery))
	if err != nil {
		t.Fatal(err)
	}
	if d.TenantDiscoveryEndpoint != "https://login.contoso.example/tenant/v2.0/.well-known/openid-configuration" {
		t.Errorf("TenantDiscoveryEndpoint = %q", d.TenantDiscoveryEndpoint)
	}
	c, ok := d.CloudOf("STS.windows.net")
	if !ok || c.PreferredCache != "login.windows.net" {
		t.Errorf("CloudOf(sts.windows.net) = %+v, %v", c, ok)
	}
	if _, ok := d.CloudOf("nowhere.example"); ok {
		t.Error("CloudOf found an unlisted host")
	}
	for name, body := range map[string]string{
		"empty":              ``,
		"no_endpoint":        `{"metadata":[]}`,
		"endpoint_http":      `{"tenant_discovery_endpoint":"http://evil.example/x"}`,
		"metadata_wrong":     `{"tenant_discovery_endpoint":"https://a/x","metadata":{}}`,
		"aliases_wrong_type": `{"tenant_discovery_endpoint":"https://a/x","metadata":[{"aliases":"a"}]}`,
	} {
		if d, err := ParseInstanceDiscovery([]byte(body)); err == nil {
			t.Errorf("%s: accepted %+v", name, d)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, ok := range []string{"https://login.example/t", "http://127.0.0.1:1/t", "http://[::1]:8/t", "http://localhost/t", "http://127.8.9.10/t"} {
		if err := CheckEndpoint(ok); err != nil {
			t.Errorf("CheckEndpoint(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "login.example/t", "http://login.example/t", "http://10.0.0.1/t", "https://a/t#f", "javascript:alert(1)", "https:///t", "http://127.0.0.1.evil.example/t", "%zz"} {
		if err := CheckEndpoint(bad); err == nil {
			t.Errorf("CheckEndpoint(%q) accepted", bad)
		}
	}
}
