package flow

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
)

func TestManagedIdentityDetectsTheSourceInMSALOrder(t *testing.T) {
	himds := filepath.Join(t.TempDir(), "himds")
	if err := os.WriteFile(himds, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const thumb = "0123456789ABCDEF0123456789ABCDEF01234567"
	tests := []struct {
		name     string
		env      map[string]string
		opts     []Option
		want     ManagedIdentitySource
		endpoint string
	}{
		{"nothing_means_imds", nil, nil, SourceIMDS, "http://169.254.169.254/metadata/identity/oauth2/token"},
		{"pod_identity_host", map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1234//"}, nil, SourceIMDS, "http://127.0.0.1:1234/metadata/identity/oauth2/token"},
		{"option_beats_pod_identity_host", map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:1234"},
			[]Option{WithIMDSEndpoint("http://127.0.0.1:5678/")}, SourceIMDS, "http://127.0.0.1:5678/metadata/identity/oauth2/token"},
		{"app_service", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:41/msi/token", "IDENTITY_HEADER": "h"}, nil, SourceAppService, "http://127.0.0.1:41/msi/token"},
		{"service_fabric_before_app_service", map[string]string{"IDENTITY_ENDPOINT": "https://127.0.0.1:2377/t", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": thumb}, nil, SourceServiceFabric, "https://127.0.0.1:2377/t"},
		{"app_service_before_msi_endpoint", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:41/msi/token", "IDENTITY_HEADER": "h", "MSI_ENDPOINT": "http://127.0.0.1:50342/oauth2/token"}, nil, SourceAppService, "http://127.0.0.1:41/msi/token"},
		{"azure_ml", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:46808/token", "MSI_SECRET": "s"}, nil, SourceAzureML, "http://127.0.0.1:46808/token"},
		{"cloud_shell", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:50342/oauth2/token"}, nil, SourceCloudShell, "http://127.0.0.1:50342/oauth2/token"},
		{"msi_endpoint_before_arc", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:50342/oauth2/token", "IDENTITY_ENDPOINT": "http://127.0.0.1:40342/x", "IMDS_ENDPOINT": "http://127.0.0.1:40342"}, nil, SourceCloudShell, "http://127.0.0.1:50342/oauth2/token"},
		{"arc_by_environment", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:40342/metadata/identity/oauth2/token", "IMDS_ENDPOINT": "http://127.0.0.1:40342"}, nil, SourceAzureArc, "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
		{"arc_by_agent_file", nil, []Option{withHimdsPath(himds)}, SourceAzureArc, "http://127.0.0.1:40342/metadata/identity/oauth2/token"},
		{"arc_by_agent_file_at_identity_endpoint", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:9/arc"}, []Option{withHimdsPath(himds)}, SourceAzureArc, "http://127.0.0.1:9/arc"},
		{"identity_endpoint_alone_is_imds", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:40342/x"}, nil, SourceIMDS, "http://169.254.169.254/metadata/identity/oauth2/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]Option{WithGetenv(envOf(tt.env)), withHimdsPath(filepath.Join(t.TempDir(), "none"))}, tt.opts...)
			m := mustMI(t, opts...)
			if m.Kind() != tt.want || m.endpoint != tt.endpoint {
				t.Errorf("source %s at %s, want %s at %s", m.Kind(), m.endpoint, tt.want, tt.endpoint)
			}
		})
	}
}

func TestNewManagedIdentityRefuses(t *testing.T) {
	sf := map[string]string{"IDENTITY_ENDPOINT": "https://127.0.0.1:2377/t", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67"}
	tests := []struct {
		name string
		env  map[string]string
		opts []Option
		want string
	}{
		{"empty_client_id", nil, []Option{WithUserAssignedClientID(" ")}, "client ID is empty"},
		{"empty_resource_id", nil, []Option{WithUserAssignedResourceID("")}, "resource ID is empty"},
		{"service_fabric_user_assigned", sf, []Option{WithUserAssignedClientID(uaClientID)}, "Service Fabric takes no user-assigned identity"},
		{"cloud_shell_user_assigned", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:1/t"}, []Option{WithUserAssignedObjectID(uaObjectID)}, "Cloud Shell has no user-assigned identity"},
		{"azure_ml_object_id", map[string]string{"MSI_ENDPOINT": "http://127.0.0.1:1/t", "MSI_SECRET": "s"}, []Option{WithUserAssignedObjectID(uaObjectID)}, "by client ID only"},
		{"service_fabric_over_http", map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:2377/t", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": sf["IDENTITY_SERVER_THUMBPRINT"]}, nil, "is not https"},
		{"service_fabric_bad_thumbprint", map[string]string{"IDENTITY_ENDPOINT": "https://127.0.0.1:2377/t", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "xyz"}, nil, "not a SHA-1 certificate thumbprint"},
		{"service_fabric_opaque_transport", sf, []Option{WithHTTPClient(&http.Client{Transport: roundTripFunc(nil)})}, "must be an *http.Transport"},
		{"service_fabric_custom_verification", sf, []Option{WithHTTPClient(&http.Client{Transport: &http.Transport{TLSClientConfig: tlsVerifying()}})}, "verifies certificates itself"},
		{"endpoint_not_a_url", map[string]string{"IDENTITY_ENDPOINT": "::nope", "IDENTITY_HEADER": "h"}, nil, "is not an absolute URL"},
		{"endpoint_with_user_info", map[string]string{"MSI_ENDPOINT": "http://user:pw@127.0.0.1/t"}, nil, "user information"},
		{"endpoint_not_http", map[string]string{"MSI_ENDPOINT": "ftp://127.0.0.1/t"}, nil, "is not http(s)"},
		{"imds_endpoint_relative", nil, []Option{WithIMDSEndpoint("169.254.169.254")}, "is not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]Option{WithGetenv(envOf(tt.env)), withHimdsPath(filepath.Join(t.TempDir(), "none"))}, tt.opts...)
			_, err := NewManagedIdentity(opts...)
			if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidOption with %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("the error shows user information: %v", err)
			}
		})
	}
}

// TestManagedIdentityEverySource gets a token from each source's stand-in
// and checks the request is shaped as MSAL shapes it, then that the
// token is served from the cache.
func TestManagedIdentityEverySource(t *testing.T) {
	tests := []struct {
		src    authtest.ManagedIdentitySource
		tls    bool
		method string
		query  map[string]string // query (or form) values the request must carry
		header map[string]string // headers the request must carry ("*": any non-empty value)
		absent []string          // headers and parameters it must not carry
	}{
		{authtest.IMDS, false, "GET", map[string]string{"api-version": "2018-02-01", "resource": graphAud},
			map[string]string{"Metadata": "true", "X-Client-Sku": "bearer.Go", "X-Client-Ver": "*", "X-Ms-Client-Request-Id": "*"},
			[]string{"client-request-id", "X-Identity-Header", "Authorization", "token_sha256_to_refresh"}},
		{authtest.AppService, false, "GET", map[string]string{"api-version": "2019-08-01", "resource": graphAud},
			map[string]string{"X-Identity-Header": "secret", "Metadata": "true"},
			[]string{"x-client-SKU", "client-request-id", "xms_cc", "token_sha256_to_refresh"}},
		{authtest.AzureArc, false, "GET", map[string]string{"api-version": "2020-06-01", "resource": graphAud},
			map[string]string{"Metadata": "true", "Authorization": "*"}, []string{"x-client-SKU"}},
		{authtest.CloudShell, false, "POST", map[string]string{"resource": graphAud},
			map[string]string{"Metadata": "true"}, []string{"x-client-SKU", "api-version"}},
		{authtest.ServiceFabric, true, "GET", map[string]string{"api-version": "2019-07-01-preview", "resource": graphAud},
			map[string]string{"Secret": "secret"}, []string{"x-client-SKU", "client_id"}},
		{authtest.AzureML, false, "GET", map[string]string{"api-version": "2017-09-01", "resource": graphAud},
			map[string]string{"Secret": "secret"}, []string{"x-client-SKU", "clientid"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			srv := newMIServer(t, tt.tls)
			m := mustMI(t, miOptions(t, srv, tt.src, nil, nil)...)
			if string(m.Kind()) != string(tt.src) {
				t.Fatalf("detected %s", m.Kind())
			}
			r, err := m.AcquireToken(bg(), graphAud+"/.default")
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.Verify(r.AccessToken)
			if err != nil || claims["appid"] != authtest.SystemAssignedClientID || claims["aud"] != authtest.GraphAudience {
				t.Fatalf("token claims %v: %v", claims, err)
			}
			if r.FromCache || r.TokenType != "Bearer" || !r.ExpiresOn.Equal(t0.Add(24*time.Hour)) || !r.RefreshOn.Equal(t0.Add(12*time.Hour)) ||
				len(r.Scopes) != 1 || r.Scopes[0] != graphAud {
				t.Errorf("result %+v", r.Token)
			}
			reqs := srv.RequestsTo(miEndpoints[tt.src])
			last := reqs[len(reqs)-1]
			if last.Method != tt.method {
				t.Errorf("method %s, want %s", last.Method, tt.method)
			}
			values := last.Query
			if tt.method == "POST" {
				values = last.Form
			}
			for k, v := range tt.query {
				if values.Get(k) != v {
					t.Errorf("%s = %q, want %q (%v)", k, values.Get(k), v, values)
				}
			}
			for k, v := range tt.header {
				got := last.Header.Get(k)
				switch v {
				case "*":
					v = got
				case "secret":
					v = srv.IdentityHeader()
				}
				if got == "" || got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if last.Header.Get(k) != "" || values.Has(k) {
					t.Errorf("the request carries %s", k)
				}
			}
			n := len(srv.Requests())
			again, err := m.AcquireToken(bg(), graphAud)
			if err != nil || !again.FromCache || again.AccessToken != r.AccessToken || len(srv.Requests()) != n {
				t.Errorf("second call: from cache %t, %d new requests, %v", again.FromCache, len(srv.Requests())-n, err)
			}
		})
	}
}

func TestManagedIdentityUserAssigned(t *testing.T) {
	tests := []struct {
		src   authtest.ManagedIdentitySource
		opt   Option
		param string // the query parameter that names the identity
		value string
	}{
		{authtest.IMDS, WithUserAssignedClientID(uaClientID), "client_id", uaClientID},
		{authtest.IMDS, WithUserAssignedObjectID(uaObjectID), "object_id", uaObjectID},
		{authtest.IMDS, WithUserAssignedResourceID(uaResourceID), "msi_res_id", uaResourceID},
		{authtest.AppService, WithUserAssignedClientID(uaClientID), "client_id", uaClientID},
		{authtest.AppService, WithUserAssignedObjectID(uaObjectID), "object_id", uaObjectID},
		{authtest.AppService, WithUserAssignedResourceID(uaResourceID), "mi_res_id", uaResourceID},
		{authtest.AzureArc, WithUserAssignedClientID(uaClientID), "client_id", uaClientID},
		{authtest.AzureArc, WithUserAssignedObjectID(uaObjectID), "object_id", uaObjectID},
		{authtest.AzureArc, WithUserAssignedResourceID(uaResourceID), "msi_res_id", uaResourceID},
		{authtest.AzureML, WithUserAssignedClientID(uaClientID), "clientid", uaClientID},
	}
	for _, tt := range tests {
		t.Run(string(tt.src)+"_"+tt.param, func(t *testing.T) {
			srv := newMIServer(t, false)
			m := mustMI(t, append(miOptions(t, srv, tt.src, nil, nil), tt.opt)...)
			r, err := m.AcquireToken(bg(), graphAud)
			if err != nil {
				t.Fatal(err)
			}
			if c, _ := srv.Verify(r.AccessToken); c["appid"] != uaClientID {
				t.Errorf("token for %v, want the user-assigned identity", c["appid"])
			}
			reqs := srv.RequestsTo(miEndpoints[tt.src])
			if q := reqs[len(reqs)-1].Query; q.Get(tt.param) != tt.value || len(q) != 3 {
				t.Errorf("query %v, want %s=%s", q, tt.param, tt.value)
			}
			// The user-assigned identity's tokens are cached apart.
			sys := mustMI(t, append(miOptions(t, srv, tt.src, nil, nil), WithCache(m.cache))...)
			if r2, err := sys.AcquireToken(bg(), graphAud); err != nil || r2.FromCache {
				t.Errorf("the system-assigned identity got the user-assigned one's token from the cache: %v", err)
			}
		})
	}
	t.Run("azure_ml_default_client_id", func(t *testing.T) {
		srv := newMIServer(t, false)
		m := mustMI(t, miOptions(t, srv, authtest.AzureML, nil, map[string]string{"DEFAULT_IDENTITY_CLIENT_ID": uaClientID})...)
		r, err := m.AcquireToken(bg(), graphAud)
		if c, _ := srv.Verify(r.AccessToken); err != nil || c["appid"] != uaClientID {
			t.Errorf("%v: token for %v, want DEFAULT_IDENTITY_CLIENT_ID's", err, c["appid"])
		}
	})
}

// TestAzureArcRefusesUnconfirmedUserAssignedIdentity: an agent that does
// not know user-assigned identities answers for the system-assigned one;
// its token is not taken (nor cached) for the identity asked for.
func TestAzureArcRefusesUnconfirmedUserAssignedIdentity(t *testing.T) {
	for _, opt := range []Option{WithUserAssignedClientID(uaClientID), WithUserAssignedResourceID(uaResourceID), WithUserAssignedObjectID(uaObjectID)} {
		srv := newMIServer(t, false, authtest.WithLegacyAzureArcAgent())
		m := mustMI(t, append(miOptions(t, srv, authtest.AzureArc, nil, nil), opt)...)
		_, err := m.AcquireToken(bg(), graphAud)
		if err == nil || !strings.Contains(err.Error(), "did not confirm the user-assigned identity") || !strings.Contains(err.Error(), "managed identity (AzureArc)") {
			t.Errorf("err = %v", err)
		}
		if _, err := m.AcquireToken(bg(), graphAud); err == nil {
			t.Errorf("the refused token was cached")
		}
	}
}

// TestAzureArcReadsOnlyTheAgentsKeyFiles: the key file a challenge names
// is read only when it is a small regular *.key file directly in the
// agent's directory; otherwise no second request is sent.
func TestAzureArcReadsOnlyTheAgentsKeyFiles(t *testing.T) {
	srv := newMIServer(t, false)
	dir := srv.AzureArcKeyDirectory()
	outside := t.TempDir()
	write := func(dir, name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secretOutside := write(outside, "stolen.key", "OUTSIDE-secret-content")
	big := write(dir, "big.key", strings.Repeat("k", maxArcKeySize+1))
	write(dir, "empty.key", "")
	notKey := write(dir, "notes.txt", "text")
	spaced := write(dir, "spaced.key", "KEY-with-newline\n")
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(secretOutside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		challenge string // "" sends no WWW-Authenticate
		want      string
	}{
		{"outside_the_directory", "Basic realm=" + secretOutside, "is not in the agent's key directory"},
		{"dot_dot_out", "Basic realm=" + dir + "/../" + filepath.Base(outside) + "/stolen.key", "is not in the agent's key directory"},
		{"relative", "Basic realm=stolen.key", "is not in the agent's key directory"},
		{"passwd", "Basic realm=/etc/passwd", "is not in the agent's key directory"},
		{"not_a_key_file", "Basic realm=" + notKey, "is not named *.key"},
		{"too_big", "Basic realm=" + big, "over the 4096 a key has"},
		{"empty", "Basic realm=" + filepath.Join(dir, "empty.key"), "is empty"},
		{"white_space", "Basic realm=" + spaced, "holds characters a key does not have"},
		{"symlink_out", "Basic realm=" + link, "is not a regular file"},
		{"directory", "Basic realm=" + filepath.Join(dir, "sub.key"), "is not a regular file"},
		{"missing", "Basic realm=" + filepath.Join(dir, "gone.key"), "no such file"},
		{"no_challenge", "", "without a Basic realm={key file} challenge"},
		{"bearer_challenge", `Bearer realm="x"`, "without a Basic realm={key file} challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			f := authtest.Fault{Endpoint: authtest.EndpointAzureArc, Status: 401, Error: "unauthorized_client"}
			if tt.challenge != "" {
				f.Header = http.Header{"Www-Authenticate": {tt.challenge}}
			}
			srv.InjectFaults(1, f)
			m := mustMI(t, miOptions(t, srv, authtest.AzureArc, nil, nil)...)
			_, err := m.AcquireToken(bg(), graphAud)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, s := range []string{"OUTSIDE-secret-content", "KEY-with-newline", "kkkkkkkk"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows a key file's content: %v", err)
				}
			}
			if n := srv.CountRequests(authtest.EndpointAzureArc); n != 1 {
				t.Errorf("%d requests, want the challenge's only", n)
			}
		})
	}
	t.Run("no_key_directory", func(t *testing.T) {
		m := mustMI(t, append(miOptions(t, srv, authtest.AzureArc, nil, nil), withArcKeyDir(""))...)
		m.arcDir = "" // a platform where Arc does not run
		if _, err := m.AcquireToken(bg(), graphAud); err == nil || !strings.Contains(err.Error(), "no key directory") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("quoted_realm", func(t *testing.T) {
		key := write(dir, "quoted.key", "QUOTEDkey")
		got, err := parseArcChallenge([]string{`Bearer x`, `Basic realm="` + key + `"`})
		if err != nil || got != key {
			t.Errorf("%q, %v", got, err)
		}
	})
}

// TestServiceFabricPinsTheCertificate: Service Fabric's endpoint is
// trusted by its thumbprint alone: a client that does not trust the
// server's CA connects, and a wrong thumbprint fails even with a client
// that trusts it.
func TestServiceFabricPinsTheCertificate(t *testing.T) {
	srv := newMIServer(t, true)
	noCA := srv.Transport().Clone()
	noCA.TLSClientConfig.RootCAs = nil // the system's roots: authtest's CA is not among them
	opts := append(miOptions(t, srv, authtest.ServiceFabric, nil, nil), WithHTTPClient(&http.Client{Transport: noCA}))
	m := mustMI(t, opts...)
	if _, err := m.AcquireToken(bg(), graphAud); err != nil {
		t.Fatalf("pinned by thumbprint, a client without the CA: %v", err)
	}
	wrong := strings.Repeat("AB", 20)
	m = mustMI(t, miOptions(t, srv, authtest.ServiceFabric, nil, map[string]string{"IDENTITY_SERVER_THUMBPRINT": wrong})...)
	n := srv.CountRequests(authtest.EndpointServiceFabric)
	_, err := m.AcquireToken(bg(), graphAud)
	if err == nil || !strings.Contains(err.Error(), "does not match IDENTITY_SERVER_THUMBPRINT") {
		t.Errorf("wrong thumbprint: %v", err)
	}
	if srv.CountRequests(authtest.EndpointServiceFabric) != n {
		t.Errorf("a request reached the server through an unpinned connection")
	}
	if srv.Transport().TLSClientConfig.InsecureSkipVerify || srv.Transport().TLSClientConfig.VerifyConnection != nil {
		t.Errorf("the caller's transport was changed")
	}
}

// TestManagedIdentityClaimsChallenge: a revoked token's claims challenge
// is answered as MSAL answers it: App Service and Service Fabric are sent
// the hash of the cached token (and the capabilities), so they replace it;
// the resource then takes the new token.
func TestManagedIdentityClaimsChallenge(t *testing.T) {
	for _, src := range []authtest.ManagedIdentitySource{authtest.AppService, authtest.ServiceFabric} {
		t.Run(string(src), func(t *testing.T) {
			srv := newMIServer(t, src == authtest.ServiceFabric)
			m := mustMI(t, append(miOptions(t, srv, src, nil, nil), WithCapabilities("cp1"))...)
			c := &http.Client{Transport: &bearer.Transport{Source: m.Source(), Scopes: []string{graphAud + "/.default"}, Base: srv.Transport(),
				AllowedHosts: []string{"127.0.0.1"}}}
			get := func() int {
				t.Helper()
				resp, err := c.Get(srv.URL + "/resource/data")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if s := get(); s != 200 {
				t.Fatalf("first call: %d", s)
			}
			first, _ := m.AcquireToken(bg(), graphAud)
			srv.Revoke(authtest.SystemAssignedClientID)
			if s := get(); s != 200 {
				t.Fatalf("after revocation: %d, want the challenge answered", s)
			}
			reqs := srv.RequestsTo(miEndpoints[src])
			if len(reqs) != 2 {
				t.Fatalf("%d requests to the source, want 2", len(reqs))
			}
			sum := sha256.Sum256([]byte(first.AccessToken))
			if q := reqs[1].Query; q.Get("token_sha256_to_refresh") != hex.EncodeToString(sum[:]) || q.Get("xms_cc") != "cp1" {
				t.Errorf("the challenge's request: %v", q)
			}
			if q := reqs[0].Query; q.Has("token_sha256_to_refresh") || q.Get("xms_cc") != "cp1" {
				t.Errorf("the first request: %v", q)
			}
			now, _ := m.AcquireToken(bg(), graphAud)
			if !now.FromCache || now.AccessToken == first.AccessToken {
				t.Errorf("the new token did not replace the cached one")
			}
		})
	}
	t.Run("other_sources_ask_again", func(t *testing.T) {
		srv := newMIServer(t, false)
		m := mustMI(t, append(miOptions(t, srv, authtest.IMDS, nil, nil), WithCapabilities("cp1"))...)
		if _, err := m.AcquireToken(bg(), graphAud); err != nil {
			t.Fatal(err)
		}
		if _, err := m.AcquireToken(bg(), graphAud, Claims(`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`)); err != nil {
			t.Fatal(err)
		}
		reqs := srv.RequestsTo(authtest.EndpointManagedIdentity)
		if len(reqs) != 2 || reqs[1].Query.Has("token_sha256_to_refresh") || reqs[1].Query.Has("xms_cc") {
			t.Errorf("%d requests; last %v", len(reqs), reqs[len(reqs)-1].Query)
		}
	})
}

func TestManagedIdentityForceRefreshAsksAgain(t *testing.T) {
	srv := newMIServer(t, false)
	m := mustMI(t, miOptions(t, srv, authtest.AppService, nil, nil)...)
	if _, err := m.AcquireToken(bg(), graphAud); err != nil {
		t.Fatal(err)
	}
	r, err := m.AcquireToken(bg(), graphAud, ForceRefresh())
	if err != nil || r.FromCache || srv.CountRequests(authtest.EndpointAppService) != 2 {
		t.Errorf("ForceRefresh: from cache %t, %d requests, %v", r.FromCache, srv.CountRequests(authtest.EndpointAppService), err)
	}
	if srv.RequestsTo(authtest.EndpointAppService)[1].Query.Has("token_sha256_to_refresh") {
		t.Errorf("ForceRefresh sent a token hash; only a claims challenge does")
	}
}

// TestManagedIdentityRefreshesEarly: a token is refreshed in the
// background from its refresh_in, else from half its lifetime (2 hours or
// more), while the cached one keeps serving; a short-lived token is not
// served in its last minutes.
func TestManagedIdentityRefreshesEarly(t *testing.T) {
	tests := []struct {
		name      string
		opts      []authtest.Option
		refreshOn time.Duration // after issuance; 0 for none
	}{
		{"half_life", nil, 12 * time.Hour},
		{"refresh_in", []authtest.Option{authtest.WithManagedIdentityRefreshIn(30 * time.Minute)}, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMIServer(t, false, tt.opts...)
			m := mustMI(t, miOptions(t, srv, authtest.IMDS, nil, nil)...)
			done := refreshes(m.app)
			first, err := m.AcquireToken(bg(), graphAud)
			if err != nil || !first.RefreshOn.Equal(t0.Add(tt.refreshOn)) {
				t.Fatalf("RefreshOn %v, want %v: %v", first.RefreshOn, t0.Add(tt.refreshOn), err)
			}
			srv.Advance(tt.refreshOn - time.Second)
			if r, _ := m.AcquireToken(bg(), graphAud); !r.FromCache || srv.CountRequests(authtest.EndpointManagedIdentity) != 1 {
				t.Errorf("refreshed before RefreshOn")
			}
			srv.Advance(time.Second)
			r, err := m.AcquireToken(bg(), graphAud)
			if err != nil || !r.FromCache || r.AccessToken != first.AccessToken {
				t.Errorf("past RefreshOn the cached token must keep serving: %v", err)
			}
			if err := recv(t, done); err != nil {
				t.Fatalf("background refresh: %v", err)
			}
			r, err = m.AcquireToken(bg(), graphAud)
			if err != nil || !r.FromCache || r.AccessToken == first.AccessToken || srv.CountRequests(authtest.EndpointManagedIdentity) != 2 {
				t.Errorf("after the background refresh: new token %t, %d requests, %v", r.AccessToken != first.AccessToken, srv.CountRequests(authtest.EndpointManagedIdentity), err)
			}
		})
	}
	t.Run("short_lived", func(t *testing.T) {
		srv := newMIServer(t, false, authtest.WithManagedIdentityLifetime(time.Hour))
		m := mustMI(t, miOptions(t, srv, authtest.AppService, nil, nil)...)
		first, err := m.AcquireToken(bg(), graphAud)
		if err != nil || !first.RefreshOn.IsZero() || !first.ExpiresOn.Equal(t0.Add(time.Hour)) {
			t.Fatalf("%+v %v", first.Token, err)
		}
		srv.Advance(55 * time.Minute)
		if r, _ := m.AcquireToken(bg(), graphAud); r.FromCache {
			t.Errorf("a token in its last five minutes was served")
		}
	})
}

// TestManagedIdentityCoalescesConcurrentCalls: identical calls share one
// request to the source.
func TestManagedIdentityCoalescesConcurrentCalls(t *testing.T) {
	srv := newMIServer(t, false)
	g := newHoldGate(srv.Transport())
	m := mustMI(t, append(miOptions(t, srv, authtest.AppService, nil, nil), WithHTTPClient(client(g)))...)
	const n = 20
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := m.AcquireToken(bg(), graphAud)
			toks[i], errs[i] = r.AccessToken, err
		}()
	}
	waitFor(t, "every caller to wait on one flight", func() bool { return m.waiters() == n && g.Held() == 1 })
	g.Open()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
	}
	if c := srv.CountRequests(authtest.EndpointAppService); c != 1 {
		t.Errorf("%d requests, want 1", c)
	}
}

// TestIMDSRetryGuidance: the instance metadata service's 404, 410, 429
// and 5xx are retried with its waits (10 s after a 410, seven times);
// other sources keep the default policy.
func TestIMDSRetryGuidance(t *testing.T) {
	tests := []struct {
		name     string
		faults   []authtest.Fault
		attempts int
		waits    []time.Duration // exact, or a range [min,max) per entry when jitter
		jitter   bool
		ok       bool
	}{
		{"410_seven_times", []authtest.Fault{{Status: 410}}, 8, []time.Duration{10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}, false, true},
		{"410_past_seven", []authtest.Fault{{Status: 410}, {Status: 410}}, 8, nil, false, false},
		{"429_retry_after", []authtest.Fault{{Status: 429, RetryAfter: "7"}}, 2, []time.Duration{7 * time.Second}, false, true},
		{"404_then_500", []authtest.Fault{{Status: 404}, {Status: 500}}, 3, []time.Duration{time.Second, 2 * time.Second}, true, true},
		{"400_final", []authtest.Fault{{Status: 400, Error: "invalid_request"}}, 1, nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMIServer(t, false)
			counts := map[int]int{410: 7, 404: 1, 500: 1, 429: 1, 400: 1}
			if tt.name == "410_past_seven" {
				counts[410] = 8
			}
			for _, f := range tt.faults {
				f.Endpoint = authtest.EndpointManagedIdentity
				srv.InjectFaults(counts[f.Status], f)
			}
			waits := &sleeps{}
			m := mustMI(t, miOptions(t, srv, authtest.IMDS, waits, nil)...)
			_, err := m.AcquireToken(bg(), graphAud)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if n := srv.CountRequests(authtest.EndpointManagedIdentity); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			got := waits.got()
			if tt.waits == nil {
				if tt.ok || tt.name == "400_final" {
					if len(got) != 0 {
						t.Errorf("waits %v, want none", got)
					}
				}
				return
			}
			if len(got) != len(tt.waits) {
				t.Fatalf("waits %v, want %v", got, tt.waits)
			}
			for i, w := range tt.waits {
				if tt.jitter && (got[i] < w/2 || got[i] >= w) || !tt.jitter && got[i] != w {
					t.Errorf("wait %d = %v, want %v (jitter %t)", i, got[i], w, tt.jitter)
				}
			}
		})
	}
	t.Run("app_service_404_is_final", func(t *testing.T) {
		srv := newMIServer(t, false)
		srv.InjectFaults(1, authtest.Fault{Endpoint: authtest.EndpointAppService, Status: 404})
		m := mustMI(t, miOptions(t, srv, authtest.AppService, nil, nil)...)
		_, err := m.AcquireToken(bg(), graphAud)
		var fe *Error
		if !errors.As(err, &fe) || fe.StatusCode != 404 || srv.CountRequests(authtest.EndpointAppService) != 1 {
			t.Errorf("err = %v, %d requests", err, srv.CountRequests(authtest.EndpointAppService))
		}
	})
}

// TestManagedIdentityErrorsNameTheSource: each source's error shape
// becomes an *Error, and the error names the source.
func TestManagedIdentityErrorsNameTheSource(t *testing.T) {
	tests := []struct {
		src      authtest.ManagedIdentitySource
		tls      bool
		env      map[string]string
		resource string
		status   int
		code     string
		desc     string
	}{
		{authtest.IMDS, false, nil, "api://nothing", 400, "invalid_resource", "AADSTS500011"},
		{authtest.AppService, false, map[string]string{"IDENTITY_HEADER": "wrong-header-value"}, graphAud, 401, "", "X-IDENTITY-HEADER header is missing or wrong"},
		{authtest.ServiceFabric, true, map[string]string{"IDENTITY_HEADER": "wrong-header-value"}, graphAud, 401, "SecretMismatch", "does not match"},
		{authtest.AzureML, false, map[string]string{"MSI_SECRET": "wrong-header-value"}, graphAud, 401, "", "secret header is missing or wrong"},
		{authtest.CloudShell, false, nil, "api://nothing", 400, "invalid_resource", "AADSTS500011"},
		{authtest.AzureArc, false, nil, "api://nothing", 400, "invalid_resource", "AADSTS500011"},
	}
	for _, tt := range tests {
		t.Run(string(tt.src), func(t *testing.T) {
			srv := newMIServer(t, tt.tls)
			m := mustMI(t, miOptions(t, srv, tt.src, nil, tt.env)...)
			_, err := m.AcquireToken(bg(), tt.resource)
			var fe *Error
			if !errors.As(err, &fe) || fe.StatusCode != tt.status || fe.Code != tt.code || !strings.Contains(fe.Description, tt.desc) {
				t.Fatalf("err = %v (%+v)", err, fe)
			}
			if !strings.HasPrefix(err.Error(), "flow: managed identity ("+string(tt.src)+"): ") {
				t.Errorf("the error does not name the source: %v", err)
			}
			if strings.Contains(err.Error(), "wrong-header-value") || strings.Contains(err.Error(), srv.IdentityHeader()) {
				t.Errorf("the error shows the secret header: %v", err)
			}
		})
	}
}

func TestManagedIdentitySourceRequests(t *testing.T) {
	srv := newMIServer(t, false)
	m := mustMI(t, miOptions(t, srv, authtest.IMDS, nil, nil)...)
	src := m.Source()
	tok, err := src.Token(bg(), bearer.TokenRequest{Scopes: []string{" ", graphAud + "/.default"}})
	if err != nil || tok.AccessToken == "" || tok.Scopes[0] != graphAud {
		t.Fatalf("%+v %v", tok, err)
	}
	stepUp := &challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_user_authentication", "acr_values": "gold"}}
	tests := []struct {
		name string
		req  bearer.TokenRequest
		want error
	}{
		{"no_scope", bearer.TokenRequest{}, ErrNoScopes},
		{"two_scopes", bearer.TokenRequest{Scopes: []string{graphAud + "/.default", "https://vault.azure.net/.default"}}, ErrInvalidOption},
		{"tenant", bearer.TokenRequest{Scopes: []string{graphAud}, TenantID: "contoso"}, ErrTenantNotSupported},
		{"step_up", bearer.TokenRequest{Scopes: []string{graphAud}, Challenge: stepUp}, ErrInteractionRequired},
		{"bad_claims", bearer.TokenRequest{Scopes: []string{graphAud}, Claims: "[1]"}, ErrInvalidOption},
		{"only_default", bearer.TokenRequest{Scopes: []string{"/.default"}}, ErrNoScopes},
	}
	n := srv.CountRequests(authtest.EndpointManagedIdentity)
	for _, tt := range tests {
		if _, err := src.Token(bg(), tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, opt := range []CallOption{Tenant("contoso"), Authority("https://login.microsoftonline.com/x"), LoginHint("a"), Prompt(PromptLogin)} {
		if _, err := m.AcquireToken(bg(), graphAud, opt); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "does not use") {
			t.Errorf("call option: err = %v", err)
		}
	}
	if _, err := m.AcquireToken(bg(), graphAud+"\x00/x"); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("a resource with a control character: %v", err)
	}
	if srv.CountRequests(authtest.EndpointManagedIdentity) != n {
		t.Errorf("a refused call sent a request")
	}
}

// TestManagedIdentityLogsAndErrorsHoldNoSecret: the identity header, the
// Azure Arc key and the tokens never appear in a log record or an error,
// even when the source echoes them back.
func TestManagedIdentityLogsAndErrorsHoldNoSecret(t *testing.T) {
	echo := newServer(t)
	echo.handle("*", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("resource") == "ok" {
			writeJSON(w, 200, `{"access_token":"AT-secret-token-value","expires_on":"`+strconv.FormatInt(t0.Add(time.Hour).Unix(), 10)+`","token_type":"Bearer"}`)
			return
		}
		writeJSON(w, 400, `{"statusCode":400,"message":"you sent `+r.Header.Get("X-Identity-Header")+r.Header.Get("Secret")+r.Header.Get("Authorization")+`"}`)
	})
	arcDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(arcDir, "k.key"), []byte("ARC-KEY-secret-content"), 0o600); err != nil {
		t.Fatal(err)
	}
	echo.handle("/arc", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", "Basic realm="+filepath.Join(arcDir, "k.key"))
			writeJSON(w, 401, `{}`)
			return
		}
		writeJSON(w, 400, `{"error":"invalid_request","error_description":"key was `+r.Header.Get("Authorization")+`"}`)
	})
	secrets := []string{"IDENTITY-header-secret", "ARC-KEY-secret-content", "AT-secret-token-value"}
	for _, env := range []map[string]string{
		{"IDENTITY_ENDPOINT": echo.URL + "/msi", "IDENTITY_HEADER": "IDENTITY-header-secret"},
		{"MSI_ENDPOINT": echo.URL + "/ml", "MSI_SECRET": "IDENTITY-header-secret"},
		{"IDENTITY_ENDPOINT": echo.URL + "/arc", "IMDS_ENDPOINT": echo.URL},
	} {
		logs := &logBuffer{}
		m := mustMI(t, WithGetenv(envOf(env)), withArcKeyDir(arcDir), WithLogger(logs.logger()), WithPII(true), WithClock(func() time.Time { return t0 }))
		_, err := m.AcquireToken(bg(), "bad")
		if err == nil {
			t.Fatalf("%s: no error", m.Kind())
		}
		if _, err := m.AcquireToken(bg(), "ok"); err != nil && m.Kind() != SourceAzureArc {
			t.Fatalf("%s: %v", m.Kind(), err)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
				t.Errorf("%s: a secret in the error or the logs:\n%v\n%s", m.Kind(), err, logs.String())
			}
		}
		if !strings.Contains(err.Error(), "REDACTED") {
			t.Errorf("%s: the echo was not scrubbed: %v", m.Kind(), err)
		}
	}
}

// TestManagedIdentityResultsAreCachedUnderMSALsKeys: tokens are cached as
// MSAL Go caches them, so a cache shared with MSAL finds them.
func TestManagedIdentityResultsAreCachedUnderMSALsKeys(t *testing.T) {
	srv := newMIServer(t, false)
	m := mustMI(t, miOptions(t, srv, authtest.IMDS, nil, nil)...)
	if _, err := m.AcquireToken(bg(), graphAud+"/.default"); err != nil {
		t.Fatal(err)
	}
	doc, err := m.cache.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"environment":"login.microsoftonline.com"`, `"realm":"managed_identity"`,
		`"client_id":"system_assigned_managed_identity"`, `"target":"https://graph.microsoft.com"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("the MSAL document lacks %s:\n%s", want, doc)
		}
	}
}

// tlsVerifying is a TLS configuration that verifies certificates itself.
func tlsVerifying() *tls.Config {
	return &tls.Config{VerifyConnection: func(tls.ConnectionState) error { return nil }}
}

// BenchmarkManagedIdentitySourceCached is the cost of a managed identity
// token from the cache, what a bearer.Transport pays on every request
// (compare BenchmarkClientSourceCached).
func BenchmarkManagedIdentitySourceCached(b *testing.B) {
	srv := authtest.NewServer(b)
	m, err := NewManagedIdentity(WithIMDSEndpoint(srv.URL), WithGetenv(envOf(nil)))
	if err != nil {
		b.Fatal(err)
	}
	src := m.Source()
	req := bearer.TokenRequest{Scopes: []string{graphAud + "/.default"}}
	if _, err := src.Token(bg(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(bg(), req); err != nil {
			b.Fatal(err)
		}
	}
	if n := srv.CountRequests(authtest.EndpointManagedIdentity); n != 1 {
		b.Errorf("%d requests", n)
	}
}

// TestManagedIdentitySourceLimitsInvalidTokenRefreshes: a resource that
// refuses every token with invalid_token costs one request to the source
// every 30 seconds, not one per HTTP request.
func TestManagedIdentitySourceLimitsInvalidTokenRefreshes(t *testing.T) {
	srv := newMIServer(t, false)
	m := mustMI(t, miOptions(t, srv, authtest.AppService, nil, nil)...)
	refusing := newServer(t)
	refusing.handle("*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token is refused"`)
		w.WriteHeader(401)
	})
	c := &http.Client{Transport: &bearer.Transport{Source: m.Source(), Scopes: []string{graphAud + "/.default"}, AllowedHosts: []string{"127.0.0.1"}}}
	call := func() {
		t.Helper()
		resp, err := c.Get(refusing.URL + "/data")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	call() // a token, then one forced refresh
	call()
	call()
	if n := srv.CountRequests(authtest.EndpointAppService); n != 2 {
		t.Errorf("%d requests to the source within 30 s, want 2", n)
	}
	srv.Advance(30 * time.Second)
	call()
	if n := srv.CountRequests(authtest.EndpointAppService); n != 3 {
		t.Errorf("%d requests to the source after 30 s, want 3", n)
	}
}
