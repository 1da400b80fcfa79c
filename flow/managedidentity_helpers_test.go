package flow

import (
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

// A user-assigned identity registered with the managed identity tests'
// servers.
const (
	uaClientID   = "77777777-aaaa-4bbb-8ccc-000000000007"
	uaObjectID   = "88888888-aaaa-4bbb-8ccc-000000000008"
	uaResourceID = "/subscriptions/x/resourceGroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z"
	graphAud     = "https://graph.microsoft.com"
)

// newMIServer returns an authtest server (TLS, for Service Fabric, when
// tls) with the user-assigned identity, its clock stopped at t0.
func newMIServer(t *testing.T, tls bool, opts ...authtest.Option) *authtest.Server {
	t.Helper()
	var srv *authtest.Server
	if tls {
		srv = authtest.NewTLSServer(t, opts...)
	} else {
		srv = authtest.NewServer(t, opts...)
	}
	srv.AddManagedIdentity(authtest.ManagedIdentity{ClientID: uaClientID, ObjectID: uaObjectID, ResourceID: uaResourceID})
	srv.SetNow(t0)
	return srv
}

// envOf is a getenv of vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// withArcKeyDir sets the Azure Arc key directory.
func withArcKeyDir(dir string) Option { return func(c *config) { c.mi.arcKeyDir = dir } }

// withHimdsPath sets where the Azure Arc agent is looked for.
func withHimdsPath(path string) Option { return func(c *config) { c.mi.himdsPath = path } }

// miOptions point a managed identity at srv's stand-in of src (with
// extra environment variables), on srv's clock, through srv's client,
// with retry waits recorded in waits instead of waited.
func miOptions(t *testing.T, srv *authtest.Server, src authtest.ManagedIdentitySource, waits *sleeps, extra map[string]string) []Option {
	t.Helper()
	env := map[string]string{}
	for k, v := range srv.ManagedIdentityEnv(src) {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	if waits == nil {
		waits = &sleeps{}
	}
	return []Option{
		WithGetenv(envOf(env)), WithHTTPClient(srv.Client()), WithClock(srv.Now),
		withArcKeyDir(srv.AzureArcKeyDirectory()), withHimdsPath(filepath.Join(t.TempDir(), "no-himds")),
		WithRetryPolicy(RetryPolicy{Sleep: waits.sleep}),
	}
}

// mustMI builds a ManagedIdentity or fails the test.
func mustMI(t *testing.T, opts ...Option) *ManagedIdentity {
	t.Helper()
	m, err := NewManagedIdentity(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// miEndpoints are authtest's endpoint names of the sources.
var miEndpoints = map[authtest.ManagedIdentitySource]string{
	authtest.IMDS:          authtest.EndpointManagedIdentity,
	authtest.AppService:    authtest.EndpointAppService,
	authtest.AzureArc:      authtest.EndpointAzureArc,
	authtest.CloudShell:    authtest.EndpointCloudShell,
	authtest.ServiceFabric: authtest.EndpointServiceFabric,
	authtest.AzureML:       authtest.EndpointAzureML,
}

// holdGate holds back every request (any method) while it is shut.
type holdGate struct {
	base    http.RoundTripper
	mu      sync.Mutex
	release chan struct{}
	held    int
}

func newHoldGate(base http.RoundTripper) *holdGate {
	return &holdGate{base: base, release: make(chan struct{})}
}

func (g *holdGate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

func (g *holdGate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

func (g *holdGate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.held++
	release := g.release
	g.mu.Unlock()
	select {
	case <-release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.base.RoundTrip(r)
}
