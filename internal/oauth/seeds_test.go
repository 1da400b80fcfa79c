package oauth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Documents shaped like what real authorities answer (field sets, types
// and spellings as they publish them; hosts, tenant IDs and tokens made
// up), used by the table tests below and as the fuzz targets' seeds.

// tenantID is a made-up tenant.
const tenantID = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"

// Discovery documents.
var realMetadata = map[string]string{
	// Entra v2.0, a tenant's document (GET
	// https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration).
	"entra_v2_tenant": `{"token_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/v2.0/token",` +
		`"token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],` +
		`"jwks_uri":"https://login.microsoftonline.com/` + tenantID + `/discovery/v2.0/keys",` +
		`"response_modes_supported":["query","fragment","form_post"],"subject_types_supported":["pairwise"],` +
		`"id_token_signing_alg_values_supported":["RS256"],"response_types_supported":["code","id_token","code id_token","id_token token"],` +
		`"scopes_supported":["openid","profile","email","offline_access"],"issuer":"https://login.microsoftonline.com/` + tenantID + `/v2.0",` +
		`"request_uri_parameter_supported":false,"userinfo_endpoint":"https://graph.microsoft.com/oidc/userinfo",` +
		`"authorization_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/v2.0/authorize",` +
		`"device_authorization_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/v2.0/devicecode",` +
		`"http_logout_supported":true,"frontchannel_logout_supported":true,` +
		`"end_session_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/v2.0/logout",` +
		`"claims_supported":["sub","iss","cloud_instance_name","cloud_instance_host_name","cloud_graph_host_name","msgraph_host","aud","exp","iat","auth_time","acr","nonce","preferred_username","name","tid","ver","at_hash","c_hash","email"],` +
		`"kerberos_endpoint":"https://login.microsoftonline.com/` + tenantID + `/kerberos","tenant_region_scope":"EU",` +
		`"cloud_instance_name":"microsoftonline.com","cloud_graph_host_name":"graph.windows.net","msgraph_host":"graph.microsoft.com","rbac_url":"https://pas.windows.net"}`,
	// Entra v2.0, common: the {tenantid} issuer template.
	"entra_v2_common": entraMetadata,
	// Entra v1.0: sts.windows.net issuer, microsoft_multi_refresh_token.
	"entra_v1": `{"token_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/token",` +
		`"token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],` +
		`"jwks_uri":"https://login.microsoftonline.com/common/discovery/keys","response_modes_supported":["query","fragment","form_post"],` +
		`"subject_types_supported":["pairwise"],"id_token_signing_alg_values_supported":["RS256"],` +
		`"response_types_supported":["code","id_token","code id_token","token id_token","token"],"scopes_supported":["openid"],` +
		`"issuer":"https://sts.windows.net/` + tenantID + `/","microsoft_multi_refresh_token":true,` +
		`"authorization_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/authorize",` +
		`"device_authorization_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/devicecode",` +
		`"http_logout_supported":true,"frontchannel_logout_supported":true,"end_session_endpoint":"https://login.microsoftonline.com/` + tenantID + `/oauth2/logout",` +
		`"check_session_iframe":"https://login.microsoftonline.com/` + tenantID + `/oauth2/checksession","tenant_region_scope":"NA",` +
		`"cloud_instance_name":"microsoftonline.com","cloud_graph_host_name":"graph.windows.net","msgraph_host":"graph.microsoft.com","rbac_url":"https://pas.windows.net"}`,
	// Azure AD B2C, a user flow's document.
	"b2c": `{"issuer":"https://fabrikamb2c.b2clogin.com/` + tenantID + `/v2.0/","authorization_endpoint":"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi/oauth2/v2.0/authorize",` +
		`"token_endpoint":"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi/oauth2/v2.0/token","end_session_endpoint":"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi/oauth2/v2.0/logout",` +
		`"jwks_uri":"https://fabrikamb2c.b2clogin.com/fabrikamb2c.onmicrosoft.com/b2c_1_susi/discovery/v2.0/keys","response_modes_supported":["query","fragment","form_post"],` +
		`"response_types_supported":["code","code id_token","code token","code id_token token","id_token","id_token token","token","token id_token"],` +
		`"scopes_supported":["openid"],"subject_types_supported":["pairwise"],"id_token_signing_alg_values_supported":["RS256"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],"claims_supported":["name","given_name","family_name","sub","tfp","iss","iat","exp","aud","acr","nonce","auth_time"]}`,
	// AD FS 2019: access_token_issuer over http, as AD FS publishes it.
	"adfs": `{"issuer":"https://fs.contoso.com/adfs","authorization_endpoint":"https://fs.contoso.com/adfs/oauth2/authorize/","token_endpoint":"https://fs.contoso.com/adfs/oauth2/token/",` +
		`"jwks_uri":"https://fs.contoso.com/adfs/discovery/keys","token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic","private_key_jwt","windows_client_authentication"],` +
		`"response_types_supported":["code","id_token","code id_token","id_token token","code token","code id_token token"],"response_modes_supported":["query","fragment","form_post"],` +
		`"grant_types_supported":["authorization_code","refresh_token","client_credentials","urn:ietf:params:oauth:grant-type:jwt-bearer","implicit","password","srv_challenge","urn:ietf:params:oauth:grant-type:device_code","device_code"],` +
		`"subject_types_supported":["pairwise"],"scopes_supported":["openid","profile","email","allatclaims","logon_cert","aza","vpn_cert","winhello_cert","user_impersonation"],` +
		`"id_token_signing_alg_values_supported":["RS256"],"token_endpoint_auth_signing_alg_values_supported":["RS256"],"access_token_issuer":"http://fs.contoso.com/adfs/services/trust",` +
		`"claims_supported":["aud","iss","iat","exp","auth_time","nonce","at_hash","c_hash","sub","upn","unique_name","pwd_url","pwd_exp","mfa_auth_time","sid","nbf"],` +
		`"microsoft_multi_refresh_token":true,"userinfo_endpoint":"https://fs.contoso.com/adfs/userinfo","capabilities":[],"end_session_endpoint":"https://fs.contoso.com/adfs/oauth2/logout",` +
		`"as_access_token_token_binding_supported":true,"as_refresh_token_token_binding_supported":true,"resource_access_token_token_binding_supported":true,"op_id_token_token_binding_supported":true,` +
		`"rp_id_token_token_binding_supported":true,"frontchannel_logout_supported":true,"frontchannel_logout_session_supported":true,"device_authorization_endpoint":"https://fs.contoso.com/adfs/oauth2/devicecode"}`,
	// Keycloak realm.
	"keycloak": `{"issuer":"https://sso.example.org/realms/acme","authorization_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/auth",` +
		`"token_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/token","introspection_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/token/introspect",` +
		`"userinfo_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/userinfo","end_session_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/logout",` +
		`"frontchannel_logout_session_supported":true,"frontchannel_logout_supported":true,"jwks_uri":"https://sso.example.org/realms/acme/protocol/openid-connect/certs",` +
		`"grant_types_supported":["authorization_code","implicit","refresh_token","password","client_credentials","urn:openid:params:grant-type:ciba","urn:ietf:params:oauth:grant-type:device_code"],` +
		`"token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_basic","client_secret_post","tls_client_auth","client_secret_jwt"],` +
		`"token_endpoint_auth_signing_alg_values_supported":["PS384","ES384","RS384","HS256","HS512","ES256","RS256","HS384","ES512","PS256","PS512","RS512"],` +
		`"device_authorization_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/auth/device","code_challenge_methods_supported":["plain","S256"],` +
		`"dpop_signing_alg_values_supported":["PS384","ES384","RS384","ES256","RS256","ES512","PS256","PS512","RS512"],"mtls_endpoint_aliases":{"token_endpoint":"https://sso.example.org/realms/acme/protocol/openid-connect/token"}}`,
	// Google.
	"google": `{"issuer":"https://accounts.google.com","authorization_endpoint":"https://accounts.google.com/o/oauth2/v2/auth","device_authorization_endpoint":"https://oauth2.googleapis.com/device/code",` +
		`"token_endpoint":"https://oauth2.googleapis.com/token","userinfo_endpoint":"https://openidconnect.googleapis.com/v1/userinfo","revocation_endpoint":"https://oauth2.googleapis.com/revoke",` +
		`"jwks_uri":"https://www.googleapis.com/oauth2/v3/certs","response_types_supported":["code","token","id_token","code token","code id_token","token id_token","code token id_token","none"],` +
		`"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256"],"scopes_supported":["openid","email","profile"],` +
		`"token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"],"code_challenge_methods_supported":["plain","S256"],"grant_types_supported":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code","urn:ietf:params:oauth:grant-type:jwt-bearer"]}`,
}

// Broken discovery documents, each with the words its error must hold.
var brokenMetadata = map[string][2]string{
	"html_login_page":        {`<!DOCTYPE html><html><body>Sign in</body></html>`, "not a JSON object"},
	"json_null":              {`null`, "not a JSON object"},
	"bom_then_json":          {"\ufeff" + `{"token_endpoint":"https://a/t"}`, "not a JSON object"},
	"truncated":              {realMetadata["entra_v2_tenant"][:300], "invalid JSON"},
	"duplicate_wrong_type":   {`{"token_endpoint":"https://a/t","jwks_uri":{"href":"https://a/k"}}`, `"jwks_uri"`},
	"issuer_number":          {`{"token_endpoint":"https://a/t","issuer":1}`, `"issuer"`},
	"no_token_endpoint":      {`{"issuer":"https://a","authorization_endpoint":"https://a/authorize"}`, "no token_endpoint"},
	"token_endpoint_http":    {`{"token_endpoint":"http://login.example.com/t"}`, "token_endpoint"},
	"end_session_javascript": {`{"token_endpoint":"https://a/t","end_session_endpoint":"javascript:alert(1)"}`, "end_session_endpoint"},
	"jwks_userinfo":          {`{"token_endpoint":"https://a/t","jwks_uri":"https://user:pw@a/k"}`, "jwks_uri"},
}

// Instance discovery answers.
var realInstanceDiscovery = map[string]string{
	"public_cloud": `{"tenant_discovery_endpoint":"https://login.microsoftonline.com/` + tenantID + `/v2.0/.well-known/openid-configuration","api-version":"1.1",` +
		`"metadata":[{"preferred_network":"login.microsoftonline.com","preferred_cache":"login.windows.net","aliases":["login.microsoftonline.com","login.windows.net","login.microsoft.com","sts.windows.net"]},` +
		`{"preferred_network":"login.partner.microsoftonline.cn","preferred_cache":"login.partner.microsoftonline.cn","aliases":["login.partner.microsoftonline.cn","login.chinacloudapi.cn"]},` +
		`{"preferred_network":"login.microsoftonline.de","preferred_cache":"login.microsoftonline.de","aliases":["login.microsoftonline.de"]},` +
		`{"preferred_network":"login.microsoftonline.us","preferred_cache":"login.microsoftonline.us","aliases":["login.microsoftonline.us","login.usgovcloudapi.net"]},` +
		`{"preferred_network":"login-us.microsoftonline.com","preferred_cache":"login-us.microsoftonline.com","aliases":["login-us.microsoftonline.com"]}]}`,
	"custom_host": instanceDiscovery,
}

var brokenInstanceDiscovery = map[string][2]string{
	"invalid_instance_as_200": {`{"error":"invalid_instance","error_description":"AADSTS50049: Unknown or invalid instance."}`, "no tenant_discovery_endpoint"},
	"endpoint_http":           {`{"tenant_discovery_endpoint":"http://login.contoso.example/x"}`, "tenant_discovery_endpoint"},
	"endpoint_relative":       {`{"tenant_discovery_endpoint":"/common/v2.0/.well-known/openid-configuration"}`, "tenant_discovery_endpoint"},
	"metadata_object":         {`{"tenant_discovery_endpoint":"https://a/x","metadata":{}}`, `"metadata"`},
	"aliases_string":          {`{"tenant_discovery_endpoint":"https://a/x","metadata":[{"aliases":"a"}]}`, `aliases" has the wrong type`}, // Go 1.27 writes the path "metadata.0.aliases", Go 1.26 "metadata.aliases"
	"array":                   {`[]`, "not a JSON object"},
	"empty":                   {``, "not a JSON object"},
}

// Token responses.
var realTokens = map[string]string{
	// Entra, client credentials.
	"entra_client_credentials": `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2ln"}`,
	// Entra, a user flow: refresh token, ID token, client_info, foci,
	// refresh_in (sent for tokens of 2 hours or more).
	"entra_user_flow": `{"token_type":"Bearer","scope":"https://graph.microsoft.com/User.Read https://graph.microsoft.com/.default","expires_in":4895,"ext_expires_in":4895,"refresh_in":2447,` +
		`"access_token":"eyJ0eXAiOiJKV1QiLCJub25jZSI6IngifQ.eyJzY3AiOiJVc2VyLlJlYWQifQ.c2ln","refresh_token":"0.AXoA-made-up-refresh-token","foci":"1",` +
		`"id_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ0In0.c2ln","client_info":"` + clientInfo("9f4880d8-80ba-4c40-97bc-f7a23c703084", tenantID) + `"}`,
	// The managed identity endpoint (IMDS): every number a string.
	"imds_managed_identity": `{"access_token":"eyJ0eXAi.eyJhdWQi.c2ln","client_id":"7b5f1a5a-0000-4000-8000-000000000001","expires_in":"86399","expires_on":"1893456000",` +
		`"ext_expires_in":"86399","not_before":"1893369300","resource":"https://management.azure.com/","token_type":"Bearer","refresh_in":"43199"}`,
	// App Service's managed identity: expires_on as a date string.
	"app_service_managed_identity": `{"access_token":"eyJ0eXAi.eyJhdWQi.c2ln","expires_on":"09/14/2030 00:00:00 PM +00:00","resource":"https://vault.azure.net","token_type":"Bearer","client_id":"7b5f1a5a-0000-4000-8000-000000000002"}`,
	// AD FS: resource owner password with a refresh token and ID token.
	"adfs": `{"access_token":"eyJ0eXAi.eyJhdWQi.c2ln","token_type":"bearer","expires_in":3600,"resource":"urn:microsoft:userinfo","refresh_token":"made-up-adfs-refresh",` +
		`"refresh_token_expires_in":28799,"scope":"openid profile","id_token":"eyJ0eXAi.eyJ1cG4iOiJ4In0.c2ln"}`,
	// Keycloak.
	"keycloak": `{"access_token":"eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIn0.eyJleHAiOjF9.c2ln","expires_in":300,"refresh_expires_in":1800,"refresh_token":"eyJhbGciOiJIUzUxMiJ9.e30.c2ln",` +
		`"token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln","not-before-policy":0,"session_state":"0a4f6e0c-0000-4000-8000-000000000003","scope":"openid email profile"}`,
	// Google.
	"google": `{"access_token":"ya29.made-up","expires_in":3599,"refresh_token":"1//made-up","scope":"openid https://www.googleapis.com/auth/userinfo.email","token_type":"Bearer","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}`,
	// B2C: lifetimes as numbers, plus not_before and expires_on.
	"b2c": `{"access_token":"eyJ0eXAi.eyJhdWQi.c2ln","id_token":"eyJ0eXAi.eyJ0ZnAiOiJ4In0.c2ln","token_type":"Bearer","not_before":1893369300,"expires_in":3600,"expires_on":1893372900,` +
		`"resource":"c1b1f0e5-0000-4000-8000-000000000004","id_token_expires_in":3600,"profile_info":"eyJ2ZXIiOiIxLjAifQ","scope":"openid offline_access","refresh_token":"made-up-b2c","refresh_token_expires_in":1209600,` +
		`"client_info":"` + clientInfo("u-b2c", "t-b2c") + `"}`,
}

var brokenTokens = map[string][2]string{
	"html_from_a_proxy":        {`<html><head><title>302 Found</title></head></html>`, "not a JSON object"},
	"form_encoded":             {`access_token=at-secret&token_type=bearer`, "not a JSON object"},
	"truncated":                {realTokens["entra_user_flow"][:120], "invalid JSON"},
	"expires_in_words":         {`{"access_token":"at-secret","expires_in":"one hour"}`, "lifetime"},
	"expires_in_negative_text": {`{"access_token":"at-secret","expires_in":"-5"}`, "lifetime"},
	"refresh_in_nan":           {`{"access_token":"at-secret","refresh_in":"NaN"}`, "lifetime"},
	"ext_expires_in_huge":      {`{"access_token":"at-secret","ext_expires_in":"1e20"}`, "lifetime"},
	"access_token_object":      {`{"access_token":{"value":"at-secret"}}`, `"access_token"`},
	"token_type_number":        {`{"access_token":"at-secret","token_type":1}`, `"token_type"`},
	"client_info_garbage":      {`{"access_token":"at-secret","client_info":"%%%"}`, "client_info"},
	"client_info_array":        {`{"access_token":"at-secret","client_info":"` + clientInfoRaw(`[1]`) + `"}`, "client_info"},
	"no_access_token":          {`{"token_type":"Bearer","expires_in":3599}`, "no access_token"},
}

// Error responses: status, body.
var realErrors = []struct {
	name   string
	status int
	ctype  string
	body   string
}{
	{"entra_invalid_client", 401, "application/json; charset=utf-8", `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '00000000-0000-0000-0000-000000000001'. Trace ID: 0e3c8f4b-0000-4000-8000-000000000005 Correlation ID: 5b1b7c6e-0000-4000-8000-000000000006 Timestamp: 2030-01-02 03:04:05Z","error_codes":[7000215],"timestamp":"2030-01-02 03:04:05Z","trace_id":"0e3c8f4b-0000-4000-8000-000000000005","correlation_id":"5b1b7c6e-0000-4000-8000-000000000006","error_uri":"https://login.microsoftonline.com/error?code=7000215"}`},
	{"entra_consent", 400, "application/json; charset=utf-8", entraError},
	{"entra_throttled", 429, "application/json", `{"error":"temporarily_unavailable","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop.","error_codes":[50196]}`},
	{"adfs", 400, "application/json;charset=UTF-8", `{"error":"invalid_grant","error_description":"MSIS9683: Received invalid OAuth JWT Bearer request. Transport key for the device is invalid."}`},
	{"keycloak", 401, "application/json", `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`},
	{"google", 400, "application/json; charset=utf-8", `{"error":"invalid_grant","error_description":"Bad Request"}`},
	{"imds", 400, "application/json; charset=utf-8", `{"error":"invalid_request","error_description":"Identity not found"}`},
	{"gateway_html", 502, "text/html", "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"},
	{"empty_503", 503, "", ""},
	{"json_array", 400, "application/json", `[{"error":"x"}]`},
	{"wrong_types", 400, "application/json", `{"error":["invalid_grant"],"error_codes":"70000","error_description":{"text":"x"}}`},
	{"control_characters", 400, "text/plain", "bad\x1b[31m request\x00"},
}

func clientInfoRaw(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

func TestRealWorldMetadata(t *testing.T) {
	for name, body := range realMetadata {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(m.TokenEndpoint, "https://") || !strings.HasPrefix(m.JWKSURI, "https://") || m.Issuer == "" || len(m.AuthMethods) == 0 {
				t.Errorf("ParseMetadata = %+v", m)
			}
		})
	}
}

func TestBrokenMetadataErrors(t *testing.T) {
	for name, tc := range brokenMetadata {
		t.Run(name, func(t *testing.T) {
			m, err := ParseMetadata([]byte(tc[0]))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tc[1]) {
				t.Errorf("error %q does not wrap ErrMalformedResponse and say %q", err, tc[1])
			}
		})
	}
}

func TestRealWorldInstanceDiscovery(t *testing.T) {
	for name, body := range realInstanceDiscovery {
		t.Run(name, func(t *testing.T) {
			d, err := ParseInstanceDiscovery([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d.CloudOf("login.microsoftonline.com"); !ok {
				t.Errorf("the public cloud's aliases are missing: %+v", d)
			}
		})
	}
}

func TestBrokenInstanceDiscoveryErrors(t *testing.T) {
	for name, tc := range brokenInstanceDiscovery {
		t.Run(name, func(t *testing.T) {
			d, err := ParseInstanceDiscovery([]byte(tc[0]))
			if err == nil {
				t.Fatalf("accepted: %+v", d)
			}
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tc[1]) {
				t.Errorf("error %q does not wrap ErrMalformedResponse and say %q", err, tc[1])
			}
		})
	}
}

func TestRealWorldTokenResponses(t *testing.T) {
	want := map[string]struct {
		expiresIn, refreshIn time.Duration
		refresh, id, home    bool
	}{
		"entra_client_credentials":     {expiresIn: 3599 * time.Second},
		"entra_user_flow":              {expiresIn: 4895 * time.Second, refreshIn: 2447 * time.Second, refresh: true, id: true, home: true},
		"imds_managed_identity":        {expiresIn: 86399 * time.Second, refreshIn: 43199 * time.Second},
		"app_service_managed_identity": {},
		"adfs":                         {expiresIn: time.Hour, refresh: true, id: true},
		"keycloak":                     {expiresIn: 300 * time.Second, refresh: true, id: true},
		"google":                       {expiresIn: 3599 * time.Second, refresh: true, id: true},
		"b2c":                          {expiresIn: time.Hour, refresh: true, id: true, home: true},
	}
	for name, body := range realTokens {
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatal("no expectation")
			}
			tr, err := ParseTokenResponse([]byte(body), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") || tr.ExpiresIn != w.expiresIn || tr.RefreshIn != w.refreshIn ||
				(tr.RefreshToken != "") != w.refresh || (tr.IDToken != "") != w.id || (tr.ClientInfo.HomeAccountID() != "") != w.home {
				t.Errorf("ParseTokenResponse = %+v", tr)
			}
			if w.refreshIn > 0 && !tr.RefreshOn.Equal(testNow.Add(w.refreshIn)) {
				t.Errorf("RefreshOn = %v, want now + refresh_in", tr.RefreshOn)
			}
		})
	}
}

func TestBrokenTokenResponseErrors(t *testing.T) {
	for name, tc := range brokenTokens {
		t.Run(name, func(t *testing.T) {
			tr, err := ParseTokenResponse([]byte(tc[0]), testNow)
			if err == nil {
				t.Fatalf("accepted: %v", tr)
			}
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), tc[1]) {
				t.Errorf("error %q does not wrap ErrMalformedResponse and say %q", err, tc[1])
			}
			mustNotContain(t, "error", err.Error(), "at-secret")
		})
	}
}

func TestRealWorldErrorResponses(t *testing.T) {
	for _, tc := range realErrors {
		t.Run(tc.name, func(t *testing.T) {
			e := ParseErrorResponse(tc.status, map[string][]string{"Content-Type": {tc.ctype}}, []byte(tc.body))
			msg := e.Error()
			if e.StatusCode != tc.status || !strings.Contains(msg, "answered "+strconv.Itoa(tc.status)) {
				t.Errorf("error %q lacks its status", msg)
			}
			if strings.ContainsAny(msg, "\x00\x1b\r\n") {
				t.Errorf("error %q keeps control characters", msg)
			}
			if strings.HasPrefix(tc.body, `{"error":"`) && (e.NotJSON || e.Code == "" || !strings.Contains(msg, e.Code)) {
				t.Errorf("JSON error read as %+v", e)
			}
		})
	}
}
