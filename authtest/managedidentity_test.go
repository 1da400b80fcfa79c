package authtest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

const (
	uaClientID   = "77777777-aaaa-4bbb-8ccc-000000000007"
	uaResourceID = "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"
)

// miServer starts a server with a user-assigned identity, its clock stopped.
func miServer(t *testing.T, tls bool, opts ...authtest.Option) *authtest.Server {
	t.Helper()
	var srv *authtest.Server
	if tls {
		srv = authtest.NewTLSServer(t, opts...)
	} else {
		srv = authtest.NewServer(t, opts...)
	}
	srv.AddManagedIdentity(authtest.ManagedIdentity{ClientID: uaClientID, ResourceID: uaResourceID})
	srv.SetNow(time.Date(2030, 2, 2, 0, 0, 0, 0, time.UTC))
	return srv
}

func withQuery(u string, kv ...string) string { return u + "?" + form(kv...).Encode() }

func TestManagedIdentityEnvNamesEachStandIn(t *testing.T) {
	srv := miServer(t, true)
	tests := []struct {
		source authtest.ManagedIdentitySource
		want   map[string]string
	}{
		{authtest.IMDS, map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": srv.URL}},
		{authtest.AppService, map[string]string{"IDENTITY_ENDPOINT": srv.URL + "/msi/token", "IDENTITY_HEADER": srv.IdentityHeader()}},
		{authtest.AzureArc, map[string]string{"IDENTITY_ENDPOINT": srv.URL + "/arc/metadata/identity/oauth2/token", "IMDS_ENDPOINT": srv.URL}},
		{authtest.CloudShell, map[string]string{"MSI_ENDPOINT": srv.URL + "/cloudshell/oauth2/token"}},
		{authtest.ServiceFabric, map[string]string{"IDENTITY_ENDPOINT": srv.URL + "/servicefabric/metadata/identity/oauth2/token",
			"IDENTITY_HEADER": srv.IdentityHeader(), "IDENTITY_SERVER_THUMBPRINT": srv.CertificateThumbprint()}},
		{authtest.AzureML, map[string]string{"MSI_ENDPOINT": srv.URL + "/azureml/msi/token", "MSI_SECRET": srv.IdentityHeader()}},
	}
	for _, tt := range tests {
		got := srv.ManagedIdentityEnv(tt.source)
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.source, got, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v || v == "" {
				t.Errorf("%s: %s = %q, want %q", tt.source, k, got[k], v)
			}
		}
	}
	if len(srv.IdentityHeader()) < 32 || srv.IdentityHeader() == miServer(t, false).IdentityHeader() {
		t.Errorf("the identity header is not a random secret per server")
	}
	if len(srv.CertificateThumbprint()) != 40 || authtest.NewServer(t).CertificateThumbprint() != "" {
		t.Errorf("thumbprint %q; a plain server must have none", srv.CertificateThumbprint())
	}
}

func TestAppServiceStandIn(t *testing.T) {
	srv := miServer(t, false)
	ep := srv.ManagedIdentityEndpoint(authtest.AppService)
	secret := srv.IdentityHeader()
	ask := func(header string, kv ...string) response {
		t.Helper()
		return get(t, srv, withQuery(ep, kv...), "X-IDENTITY-HEADER", header)
	}
	base := []string{"api-version", "2019-08-01", "resource", authtest.GraphAudience}
	r := ask(secret, base...)
	if r.status != 200 || r.str("client_id") != authtest.SystemAssignedClientID || r.str("expires_on") != "1896307200" ||
		r.str("resource") != authtest.GraphAudience || r.str("token_type") != "Bearer" || r.body["expires_in"] != nil {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if c := claims(t, r.str("access_token")); c["appid"] != authtest.SystemAssignedClientID || c["xms_cc"] != nil {
		t.Errorf("claims %v", c)
	}
	if again := ask(secret, base...); again.str("access_token") != r.str("access_token") {
		t.Errorf("App Service issued a new token instead of the one it keeps")
	}
	for _, sel := range [][]string{{"client_id", uaClientID}, {"mi_res_id", uaResourceID}} {
		if u := ask(secret, append(base, sel...)...); u.status != 200 || u.str("client_id") != uaClientID {
			t.Errorf("%s: %d %s", sel[0], u.status, u.raw)
		}
	}
	tests := []struct {
		name   string
		header string
		kv     []string
		status int
	}{
		{"no_secret", "", base, 401},
		{"wrong_secret", secret + "x", base, 401},
		{"no_api_version", secret, []string{"resource", authtest.GraphAudience}, 400},
		{"no_resource", secret, []string{"api-version", "2019-08-01"}, 400},
		{"unknown_identity", secret, append(base, "client_id", "nobody"), 400},
		{"unknown_resource", secret, []string{"api-version", "2019-08-01", "resource", "api://nothing"}, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(tt.header, tt.kv...)
			if r.status != tt.status || r.num("statusCode") != float64(tt.status) || r.str("message") == "" || r.str("correlationId") == "" {
				t.Errorf("%d %s, want %d in App Service's shape", r.status, r.raw, tt.status)
			}
			if strings.Contains(r.raw, secret) {
				t.Errorf("the error echoes the identity header")
			}
		})
	}
}

// TestRevocableSourcesReplaceTheHashedToken: App Service and Service
// Fabric keep a token, answer it again, and replace it when asked with
// its SHA-256; the capabilities of xms_cc go in the new token.
func TestRevocableSourcesReplaceTheHashedToken(t *testing.T) {
	srv := miServer(t, true)
	for _, src := range []authtest.ManagedIdentitySource{authtest.AppService, authtest.ServiceFabric} {
		t.Run(string(src), func(t *testing.T) {
			ask := func(kv ...string) response {
				t.Helper()
				q := []string{"resource", authtest.GraphAudience, "xms_cc", "cp1,cp2"}
				header := []string{"X-IDENTITY-HEADER", srv.IdentityHeader()}
				q = append(q, "api-version", "2019-08-01")
				if src == authtest.ServiceFabric {
					q[len(q)-1] = "2019-07-01-preview"
					header = []string{"Secret", srv.IdentityHeader()}
				}
				r := get(t, srv, withQuery(srv.ManagedIdentityEndpoint(src), append(q, kv...)...), header...)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				return r
			}
			first := ask().str("access_token")
			if c := claims(t, first); strings.Join(toStrings(c["xms_cc"]), ",") != "cp1,cp2" {
				t.Errorf("xms_cc = %v", c["xms_cc"])
			}
			if again := ask("token_sha256_to_refresh", strings.Repeat("0", 64)).str("access_token"); again != first {
				t.Errorf("another token's hash made the source replace its token")
			}
			sum := sha256.Sum256([]byte(first))
			fresh := ask("token_sha256_to_refresh", hex.EncodeToString(sum[:])).str("access_token")
			if fresh == first {
				t.Fatalf("the token's hash did not replace it")
			}
			if ask().str("access_token") != fresh {
				t.Errorf("the replacement is not the token kept")
			}
		})
	}
}

// TestIMDSIgnoresTheHashAndCapabilities: only App Service and Service
// Fabric take token revocation parameters.
func TestIMDSIgnoresTheHashAndCapabilities(t *testing.T) {
	srv := miServer(t, false)
	ep := srv.ManagedIdentityEndpoint(authtest.IMDS)
	q := []string{"api-version", "2018-02-01", "resource", authtest.GraphAudience, "xms_cc", "cp1"}
	first := get(t, srv, withQuery(ep, q...), "Metadata", "true").str("access_token")
	sum := sha256.Sum256([]byte(first))
	again := get(t, srv, withQuery(ep, append(q, "token_sha256_to_refresh", hex.EncodeToString(sum[:]))...), "Metadata", "true").str("access_token")
	if first == "" || again != first {
		t.Errorf("IMDS replaced its token for a hash")
	}
	if c := claims(t, first); c["xms_cc"] != nil {
		t.Errorf("IMDS put xms_cc in the token: %v", c["xms_cc"])
	}
}

func TestKeptTokensAreReplacedAtTheirRefreshTime(t *testing.T) {
	tests := []struct {
		name      string
		opts      []authtest.Option
		refreshIn time.Duration
		wantField string
	}{
		{"half_life", nil, 12 * time.Hour, ""},
		{"refresh_in", []authtest.Option{authtest.WithManagedIdentityRefreshIn(time.Hour), authtest.WithManagedIdentityLifetime(3 * time.Hour)}, time.Hour, "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := miServer(t, false, tt.opts...)
			u := withQuery(srv.ManagedIdentityEndpoint(authtest.IMDS), "api-version", "2018-02-01", "resource", authtest.GraphAudience)
			first := get(t, srv, u, "Metadata", "true")
			if first.str("refresh_in") != tt.wantField {
				t.Errorf("refresh_in = %q, want %q", first.str("refresh_in"), tt.wantField)
			}
			srv.Advance(tt.refreshIn - time.Second)
			if get(t, srv, u, "Metadata", "true").str("access_token") != first.str("access_token") {
				t.Errorf("replaced before its refresh time")
			}
			srv.Advance(time.Second)
			if get(t, srv, u, "Metadata", "true").str("access_token") == first.str("access_token") {
				t.Errorf("not replaced at its refresh time")
			}
		})
	}
}

func TestServiceFabricStandIn(t *testing.T) {
	srv := miServer(t, true)
	ep := srv.ManagedIdentityEndpoint(authtest.ServiceFabric)
	base := []string{"api-version", "2019-07-01-preview", "resource", authtest.GraphAudience}
	r := get(t, srv, withQuery(ep, base...), "Secret", srv.IdentityHeader())
	if r.status != 200 || r.num("expires_on") != 1896307200 || r.str("token_type") != "Bearer" || r.str("access_token") == "" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	tests := []struct {
		name, secret string
		kv           []string
		status       int
		code         string
	}{
		{"no_secret", "", base, 401, "SecretHeaderNotFound"},
		{"wrong_secret", "nope", base, 401, "SecretMismatch"},
		{"no_resource", srv.IdentityHeader(), []string{"api-version", "2019-07-01-preview"}, 400, "ArgumentNullOrEmpty"},
		{"unknown_resource", srv.IdentityHeader(), []string{"api-version", "2019-07-01-preview", "resource", "api://nothing"}, 404, "ManagedIdentityNotFound"},
	}
	for _, tt := range tests {
		r := get(t, srv, withQuery(ep, tt.kv...), "Secret", tt.secret)
		e, _ := r.body["error"].(map[string]any)
		if r.status != tt.status || e["code"] != tt.code || e["message"] == "" || e["correlationId"] == "" {
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		}
	}
	plain := miServer(t, false)
	if r := get(t, plain, withQuery(plain.ManagedIdentityEndpoint(authtest.ServiceFabric), base...), "Secret", plain.IdentityHeader()); r.status != 400 {
		t.Errorf("over plain http: %d, want 400", r.status)
	}
}

func TestCloudShellStandIn(t *testing.T) {
	srv := miServer(t, false)
	ep := srv.ManagedIdentityEndpoint(authtest.CloudShell)
	send := func(method string, body url.Values, metadata bool) response {
		t.Helper()
		req, _ := http.NewRequest(method, ep, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if metadata {
			req.Header.Set("Metadata", "true")
		}
		return do(t, srv.Client(), req)
	}
	r := send(http.MethodPost, form("resource", authtest.GraphAudience), true)
	if r.status != 200 || r.str("expires_in") != "86400" || r.str("expires_on") != "1896307200" || r.str("access_token") == "" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := send(http.MethodPost, form("resource", authtest.GraphAudience), false); r.status != 400 {
		t.Errorf("without Metadata: %d", r.status)
	}
	if r := send(http.MethodGet, nil, true); r.status != 405 {
		t.Errorf("GET: %d", r.status)
	}
	if r := send(http.MethodPost, form(), true); r.status != 400 || r.str("error") != "invalid_request" {
		t.Errorf("no resource: %d %s", r.status, r.raw)
	}
}

func TestAzureMLStandIn(t *testing.T) {
	srv := miServer(t, false)
	ep := srv.ManagedIdentityEndpoint(authtest.AzureML)
	base := []string{"api-version", "2017-09-01", "resource", authtest.GraphAudience}
	r := get(t, srv, withQuery(ep, base...), "secret", srv.IdentityHeader())
	if r.status != 200 || r.str("expires_on") != "1896307200" || r.str("clientid") != authtest.SystemAssignedClientID {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := get(t, srv, withQuery(ep, append(base, "clientid", uaClientID)...), "secret", srv.IdentityHeader()); r.str("clientid") != uaClientID {
		t.Errorf("clientid: %d %s", r.status, r.raw)
	}
	if r := get(t, srv, withQuery(ep, base...)); r.status != 401 || r.num("statusCode") != 401 {
		t.Errorf("no secret: %d %s", r.status, r.raw)
	}
}

func TestAzureArcStandIn(t *testing.T) {
	srv := miServer(t, false)
	ep := srv.ManagedIdentityEndpoint(authtest.AzureArc)
	base := []string{"api-version", "2020-06-01", "resource", authtest.GraphAudience}
	challenge := func(kv ...string) (string, string) {
		t.Helper()
		r := get(t, srv, withQuery(ep, kv...), "Metadata", "true")
		h := r.header.Get("WWW-Authenticate")
		path, ok := strings.CutPrefix(h, "Basic realm=")
		if r.status != 401 || !ok {
			t.Fatalf("%d %q %s", r.status, h, r.raw)
		}
		if filepath.Dir(path) != srv.AzureArcKeyDirectory() || filepath.Ext(path) != ".key" {
			t.Fatalf("key file %q not in %q", path, srv.AzureArcKeyDirectory())
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", fi, err)
		}
		key, _ := os.ReadFile(path)
		return path, string(key)
	}
	_, key := challenge(base...)
	r := get(t, srv, withQuery(ep, base...), "Metadata", "true", "Authorization", "Basic "+key)
	if r.status != 200 || r.str("client_id") != authtest.SystemAssignedClientID || r.str("expires_in") != "86400" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if r := get(t, srv, withQuery(ep, base...), "Metadata", "true", "Authorization", "Basic wrong"); r.status != 401 || r.str("error") != "unauthorized_client" {
		t.Errorf("wrong key: %d %s", r.status, r.raw)
	}
	if r := get(t, srv, withQuery(ep, base...)); r.status != 400 {
		t.Errorf("without Metadata: %d", r.status)
	}
	if r := get(t, srv, withQuery(ep, "api-version", "2018-02-01", "resource", authtest.GraphAudience), "Metadata", "true"); r.status != 400 {
		t.Errorf("IMDS's api-version: %d", r.status)
	}
	t.Run("user_assigned_echo", func(t *testing.T) {
		for _, sel := range [][]string{{"client_id", uaClientID}, {"msi_res_id", uaResourceID}} {
			q := append(append([]string(nil), base...), sel...)
			_, key := challenge(q...)
			r := get(t, srv, withQuery(ep, q...), "Metadata", "true", "Authorization", "Basic "+key)
			if r.status != 200 || r.str("client_id") != uaClientID || r.str(sel[0]) != sel[1] {
				t.Errorf("%s: %d %s", sel[0], r.status, r.raw)
			}
		}
	})
	t.Run("legacy_agent", func(t *testing.T) {
		legacy := miServer(t, false, authtest.WithLegacyAzureArcAgent(), authtest.WithAzureArcKeyDirectory(t.TempDir()))
		lep := legacy.ManagedIdentityEndpoint(authtest.AzureArc)
		q := append(append([]string(nil), base...), "msi_res_id", uaResourceID)
		h := get(t, legacy, withQuery(lep, q...), "Metadata", "true").header.Get("WWW-Authenticate")
		path := strings.TrimPrefix(h, "Basic realm=")
		key, err := os.ReadFile(path)
		if err != nil || filepath.Dir(path) != legacy.AzureArcKeyDirectory() {
			t.Fatalf("%q: %v", path, err)
		}
		r := get(t, legacy, withQuery(lep, q...), "Metadata", "true", "Authorization", "Basic "+string(key))
		if r.status != 200 || r.str("client_id") != authtest.SystemAssignedClientID || r.body["msi_res_id"] != nil {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})
}

func TestArcKeyDirectoryIsRemovedOnClose(t *testing.T) {
	srv := authtest.NewServer(nil)
	dir := srv.AzureArcKeyDirectory()
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the server's own key directory is still there: %v", err)
	}
	mine := t.TempDir()
	srv = authtest.NewServer(nil, authtest.WithAzureArcKeyDirectory(mine))
	srv.Close()
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("a given directory was removed: %v", err)
	}
}

func TestManagedIdentityFaultsCarryHeaders(t *testing.T) {
	srv := miServer(t, false)
	srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointAzureArc, Status: 401,
		Header: http.Header{"Www-Authenticate": {"Basic realm=/etc/passwd"}}})
	r := get(t, srv, withQuery(srv.ManagedIdentityEndpoint(authtest.AzureArc), "api-version", "2020-06-01", "resource", authtest.GraphAudience), "Metadata", "true")
	if r.status != 401 || r.header.Get("WWW-Authenticate") != "Basic realm=/etc/passwd" {
		t.Errorf("%d %v", r.status, r.header)
	}
	if reqs := srv.RequestsTo(authtest.EndpointAzureArc); len(reqs) != 1 || !reqs[0].Fault {
		t.Errorf("requests %v", reqs)
	}
}

// TestArcKeyFilesAreBounded: the Azure Arc stand-in keeps its last 64
// key files; older ones are removed and no longer accepted.
func TestArcKeyFilesAreBounded(t *testing.T) {
	srv := miServer(t, false)
	u := withQuery(srv.ManagedIdentityEndpoint(authtest.AzureArc), "api-version", "2020-06-01", "resource", authtest.GraphAudience)
	var first, firstKey string
	for i := range 65 {
		path := strings.TrimPrefix(get(t, srv, u, "Metadata", "true").header.Get("WWW-Authenticate"), "Basic realm=")
		if i == 0 {
			first = path
			b, _ := os.ReadFile(path)
			firstKey = string(b)
		}
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Errorf("the oldest key file is still there: %v", err)
	}
	if entries, _ := os.ReadDir(srv.AzureArcKeyDirectory()); len(entries) != 64 {
		t.Errorf("%d key files, want 64", len(entries))
	}
	if r := get(t, srv, u, "Metadata", "true", "Authorization", "Basic "+firstKey); r.status != 401 {
		t.Errorf("the oldest key is still accepted: %d", r.status)
	}
}
