package flow

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
)

const (
	envApp     = "env-app-0000-0000-0000-000000000001"
	envSecret  = "env-SECRET-value-1"
	fedIssuer  = "https://oidc.prod-aks.azure.com/cluster"
	fedSubject = "system:serviceaccount:default:workload"
)

// chainServer is a TLS authtest server posing as Entra (so the default
// authority host works through its client), with an app that has a
// secret, a certificate and a federated credential, and the managed
// identity stand-ins.
type chainServer struct {
	*authtest.Server
	certPath  string // a PEM file with the app's certificate and key
	tokenFile string // a federated token for the app
}

func newChainServer(t *testing.T) *chainServer {
	t.Helper()
	srv := newMIServer(t, true)
	cert, key := rsaCertificate(t)
	srv.AddClient(authtest.Client{ID: envApp, Secret: envSecret, Certificates: []*x509.Certificate{cert},
		FederatedCredentials: []authtest.FederatedCredential{{Issuer: fedIssuer, Subject: fedSubject}}})
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(dir, "app.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	if err := os.WriteFile(certPath, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	cs := &chainServer{Server: srv, certPath: certPath, tokenFile: filepath.Join(dir, "token")}
	cs.rotate(t, "first")
	return cs
}

// rotate writes a new federated token to the token file, as the kubelet
// does, and returns it.
func (cs *chainServer) rotate(t *testing.T, jti string) string {
	t.Helper()
	tok := cs.IssueAccessToken(authtest.AccessTokenSpec{Audience: authtest.TokenExchangeAudience, ClientID: "kubelet",
		Claims: map[string]any{"iss": fedIssuer, "sub": fedSubject, "jti": jti}})
	tmp := cs.tokenFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cs.tokenFile); err != nil {
		t.Fatal(err)
	}
	return tok
}

// chainOptions are NewDefault's options for env on cs.
func (cs *chainServer) options(t *testing.T, env map[string]string, more ...Option) []Option {
	return append([]Option{WithGetenv(envOf(env)), WithHTTPClient(cs.Client()), WithClock(cs.Now),
		withArcKeyDir(cs.AzureArcKeyDirectory()), withHimdsPath(filepath.Join(t.TempDir(), "none")),
		WithRetryPolicy(RetryPolicy{Sleep: (&sleeps{}).sleep})}, more...)
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func mustDefault(t *testing.T, opts ...Option) *Default {
	t.Helper()
	d, err := NewDefault(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var graphReq = bearer.TokenRequest{Scopes: []string{graphAud + "/.default"}}

func TestNewDefaultChoosesTheFirstConfigured(t *testing.T) {
	cs := newChainServer(t)
	tenant := map[string]string{"AZURE_TENANT_ID": "contoso.com", "AZURE_CLIENT_ID": envApp}
	secret := merge(tenant, map[string]string{"AZURE_CLIENT_SECRET": envSecret})
	certificate := merge(tenant, map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": cs.certPath})
	workload := merge(tenant, map[string]string{"AZURE_FEDERATED_TOKEN_FILE": cs.tokenFile})
	appService := cs.ManagedIdentityEnv(authtest.AppService)
	tests := []struct {
		name     string
		env      map[string]string
		want     string
		endpoint string // where the token came from
		appid    string
		form     string // a form field the token request carried
	}{
		{"secret_before_everything", merge(secret, certificate, workload, appService), "environment (client secret)", authtest.EndpointToken, envApp, "client_secret"},
		{"certificate", merge(certificate, workload, appService), "environment (certificate)", authtest.EndpointToken, envApp, "client_assertion"},
		{"workload_identity", merge(workload, appService), "workload identity", authtest.EndpointToken, envApp, "client_assertion"},
		{"managed_identity", appService, "managed identity (AppService)", authtest.EndpointAppService, authtest.SystemAssignedClientID, ""},
		{"tenant_and_client_alone_fall_through", merge(tenant, appService), "managed identity (AppService)", authtest.EndpointAppService, uaClientID, ""},
		{"client_id_names_the_managed_identity", merge(map[string]string{"AZURE_CLIENT_ID": uaClientID}, cs.ManagedIdentityEnv(authtest.IMDS)), "managed identity (IMDS)", authtest.EndpointManagedIdentity, uaClientID, ""},
		{"client_id_ignored_by_cloud_shell", merge(map[string]string{"AZURE_CLIENT_ID": uaClientID}, cs.ManagedIdentityEnv(authtest.CloudShell)), "managed identity (CloudShell)", authtest.EndpointCloudShell, authtest.SystemAssignedClientID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if tt.name == "tenant_and_client_alone_fall_through" {
				env = merge(env, map[string]string{"AZURE_CLIENT_ID": uaClientID})
			}
			cs.ResetRequests()
			d := mustDefault(t, cs.options(t, env)...)
			if d.Credential() != tt.want {
				t.Fatalf("chose %q, want %q", d.Credential(), tt.want)
			}
			tok, err := d.Token(bg(), graphReq)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := cs.Verify(tok.AccessToken); err != nil || c["appid"] != tt.appid {
				t.Errorf("token of %v, want %s: %v", c["appid"], tt.appid, err)
			}
			reqs := cs.Requests()
			if len(reqs) == 0 || reqs[len(reqs)-1].Endpoint != tt.endpoint {
				t.Fatalf("requests %v, want the last to %s", reqs, tt.endpoint)
			}
			if tt.form != "" && reqs[len(reqs)-1].Form.Get(tt.form) == "" {
				t.Errorf("the token request carried no %s", tt.form)
			}
			if h := reqs[len(reqs)-1].Host; tt.endpoint == authtest.EndpointToken && h != "login.microsoftonline.com" {
				t.Errorf("the token request went to %s, want the default authority host", h)
			}
		})
	}
}

// TestNewDefaultReturnsTheChosenCredentialsError: a configured credential
// that fails is not passed over for the next one; its error names it.
func TestNewDefaultReturnsTheChosenCredentialsError(t *testing.T) {
	cs := newChainServer(t)
	tenant := map[string]string{"AZURE_TENANT_ID": "contoso.com", "AZURE_CLIENT_ID": envApp}
	appService := cs.ManagedIdentityEnv(authtest.AppService)
	t.Run("wrong_secret", func(t *testing.T) {
		cs.ResetRequests()
		d := mustDefault(t, cs.options(t, merge(tenant, appService, map[string]string{"AZURE_CLIENT_SECRET": "wrong-SECRET-x"}))...)
		_, err := d.Token(bg(), graphReq)
		var fe *Error
		if !errors.As(err, &fe) || fe.Code != "invalid_client" || !strings.Contains(err.Error(), "flow: default credential: environment (client secret): ") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-SECRET-x") {
			t.Errorf("the error shows the secret")
		}
		if n := cs.CountRequests(authtest.EndpointAppService); n != 0 {
			t.Errorf("the chain fell through to the managed identity (%d requests)", n)
		}
	})
	t.Run("managed_identity_refused", func(t *testing.T) {
		d := mustDefault(t, cs.options(t, merge(appService, map[string]string{"IDENTITY_HEADER": "wrong"}))...)
		_, err := d.Token(bg(), graphReq)
		var fe *Error
		if !errors.As(err, &fe) || fe.StatusCode != 401 || !strings.HasPrefix(err.Error(), "flow: default credential: flow: managed identity (AppService): flow: authority error 401") {
			t.Errorf("err = %v", err)
		}
		if _, err := d.Token(bg(), bearer.TokenRequest{Scopes: []string{"a", "b"}}); err == nil || !strings.HasPrefix(err.Error(), "flow: default credential: managed identity (AppService): ") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("workload_token_file_missing", func(t *testing.T) {
		d := mustDefault(t, cs.options(t, merge(tenant, appService, map[string]string{"AZURE_FEDERATED_TOKEN_FILE": filepath.Join(t.TempDir(), "none")}))...)
		_, err := d.Token(bg(), graphReq)
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "default credential: workload identity: ") {
			t.Errorf("err = %v", err)
		}
	})
	constructorErrors := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"certificate_not_a_certificate", merge(tenant, map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": cs.tokenFile}), "default credential: environment: AZURE_CLIENT_CERTIFICATE_PATH"},
		{"certificate_missing", merge(tenant, map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": filepath.Join(t.TempDir(), "none.pem")}), "default credential: environment: AZURE_CLIENT_CERTIFICATE_PATH"},
		{"authority_host_plain_http", merge(tenant, map[string]string{"AZURE_CLIENT_SECRET": envSecret, "AZURE_AUTHORITY_HOST": "http://login.example"}), "default credential: environment: flow: invalid authority"},
		{"managed_identity_refuses", map[string]string{"MSI_ENDPOINT": "ftp://x"}, "default credential: managed identity: flow: invalid option"},
	}
	for _, tt := range constructorErrors {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDefault(cs.options(t, merge(tt.env, appService))...)
			if tt.name == "managed_identity_refuses" {
				_, err = NewDefault(cs.options(t, tt.env)...)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// closedPortClient is a client whose every connection goes to a loopback
// port nobody listens on: connection refused, and no packet leaves the
// machine.
func closedPortClient(t *testing.T) *http.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}}}
}

// TestNewDefaultNoCredentialAvailable: with nothing configured, the
// instance metadata service is probed (one request, one second at most);
// when it does not answer, the error lists what each credential needed.
func TestNewDefaultNoCredentialAvailable(t *testing.T) {
	var mu sync.Mutex
	var timeouts []time.Duration
	recordTimeout := func(c *config) {
		c.withTimeout = func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
			mu.Lock()
			timeouts = append(timeouts, d)
			mu.Unlock()
			return context.WithTimeout(ctx, d)
		}
	}
	d := mustDefault(t, WithGetenv(envOf(map[string]string{"AZURE_CLIENT_ID": uaClientID})), WithHTTPClient(closedPortClient(t)),
		withHimdsPath(filepath.Join(t.TempDir(), "none")), recordTimeout)
	if d.Credential() != "managed identity (IMDS)" {
		t.Fatalf("chose %q", d.Credential())
	}
	_, err := d.Token(bg(), graphReq)
	var ce *ChainError
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnavailable) || len(ce.Attempts) != 3 {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"environment: AZURE_TENANT_ID not set",
		"workload identity: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID not set",
		"managed identity (IMDS): no instance metadata service answered at http://169.254.169.254/metadata/identity/oauth2/token",
		"connection refused",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%v", want, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(timeouts) != 1 || timeouts[0] != time.Second {
		t.Errorf("timeouts asked for %v, want one probe of 1s", timeouts)
	}
}

// TestNewDefaultProbesIMDSOnce: an instance metadata service chosen by
// default is probed (without the Metadata header) before its first use
// only; one named by the environment is not probed.
func TestNewDefaultProbesIMDSOnce(t *testing.T) {
	srv := newMIServer(t, false)
	d := mustDefault(t, WithGetenv(envOf(nil)), WithHTTPClient(srv.Client()), WithClock(srv.Now), withHimdsPath(filepath.Join(t.TempDir(), "none")))
	for range 2 {
		if _, err := d.Token(bg(), graphReq); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Token(bg(), bearer.TokenRequest{Scopes: []string{"https://vault.azure.net/.default"}}); err == nil {
		t.Log("vault answered") // not registered: an error, but no second probe
	}
	reqs := srv.RequestsTo(authtest.EndpointManagedIdentity)
	probes := 0
	for _, r := range reqs {
		if r.Header.Get("Metadata") == "" {
			probes++
		}
		if r.Host != "169.254.169.254" {
			t.Errorf("request to %s, want the default endpoint's host (dialled to loopback)", r.Host)
		}
	}
	if probes != 1 || len(reqs) != 3 {
		t.Errorf("%d probes in %d requests, want 1 in 3", probes, len(reqs))
	}
	named := mustDefault(t, WithGetenv(envOf(srv.ManagedIdentityEnv(authtest.IMDS))), WithHTTPClient(srv.Client()), WithClock(srv.Now))
	srv.ResetRequests()
	if _, err := named.Token(bg(), graphReq); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.RequestsTo(authtest.EndpointManagedIdentity) {
		if r.Header.Get("Metadata") == "" {
			t.Errorf("an instance metadata service named by the environment was probed")
		}
	}
}

func TestNewDefaultHonoursAuthorityHost(t *testing.T) {
	cs := newChainServer(t)
	env := map[string]string{"AZURE_TENANT_ID": "contoso.com", "AZURE_CLIENT_ID": envApp, "AZURE_CLIENT_SECRET": envSecret,
		"AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/"}
	for _, e := range []map[string]string{env, merge(env, map[string]string{"AZURE_CLIENT_SECRET": "", "AZURE_FEDERATED_TOKEN_FILE": cs.tokenFile})} {
		cs.ResetRequests()
		d := mustDefault(t, cs.options(t, e, WithAuthority("https://login.microsoftonline.com/other"))...)
		if _, err := d.Token(bg(), graphReq); err != nil {
			t.Fatalf("%s: %v", d.Credential(), err)
		}
		reqs := cs.RequestsTo(authtest.EndpointToken)
		if len(reqs) != 1 || reqs[0].Host != "login.microsoftonline.us" || reqs[0].Tenant != "contoso.com" {
			t.Errorf("%s: token requests %v, want one to login.microsoftonline.us/contoso.com", d.Credential(), reqs)
		}
	}
}

func TestNewDefaultLogsItsChoice(t *testing.T) {
	cs := newChainServer(t)
	logs := &logBuffer{}
	l := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	mustDefault(t, cs.options(t, cs.ManagedIdentityEnv(authtest.AppService), WithLogger(l))...)
	out := logs.String()
	for _, want := range []string{"level=INFO", `msg="flow: default credential chosen"`, `credential="managed identity (AppService)"`,
		`skipped_environment="flow: credential not available: AZURE_TENANT_ID, AZURE_CLIENT_ID not set"`, "skipped_workload_identity="} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, cs.IdentityHeader()) {
		t.Errorf("the log shows the identity header")
	}
}

// TestWorkloadIdentityRereadsTheRotatedToken: Kubernetes replaces the
// token file; the next token request carries the new token.
func TestWorkloadIdentityRereadsTheRotatedToken(t *testing.T) {
	cs := newChainServer(t)
	env := map[string]string{"AZURE_TENANT_ID": "contoso.com", "AZURE_CLIENT_ID": envApp, "AZURE_FEDERATED_TOKEN_FILE": cs.tokenFile}
	app, err := NewWorkloadIdentity(cs.options(t, env)...)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(cs.tokenFile)
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatal(err)
	}
	second := cs.rotate(t, "second")
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, ForceRefresh()); err != nil {
		t.Fatal(err)
	}
	reqs := cs.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 2 || reqs[0].Form.Get("client_assertion") != string(first) || reqs[1].Form.Get("client_assertion") != second {
		t.Errorf("the assertions sent are not the file's tokens, first then rotated")
	}
}

func TestNewWorkloadIdentityUnavailable(t *testing.T) {
	_, err := NewWorkloadIdentity(WithGetenv(envOf(map[string]string{"AZURE_CLIENT_ID": "x"})))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID not set") {
		t.Errorf("err = %v", err)
	}
}

func TestChainErrorUnwraps(t *testing.T) {
	inner := errors.New("inner")
	e := &ChainError{Attempts: []ChainAttempt{{Credential: "a", Err: errors.Join(ErrUnavailable, inner)}}}
	if !errors.Is(e, inner) || !errors.Is(e, ErrUnavailable) {
		t.Errorf("ChainError does not unwrap its attempts")
	}
}
