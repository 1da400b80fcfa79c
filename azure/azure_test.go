package azure_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/azure"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

const (
	clientID     = "0b0b0b0b-1111-4222-8333-444444444444"
	clientSecret = "azure-test-not-a-real-secret"
	tenant       = "contoso.onmicrosoft.com"
	graphScope   = "https://graph.microsoft.com/.default"
	usersURL     = "https://graph.microsoft.com/v1.0/users"
	// caeClaims is a claims challenge's JSON, as Entra's CAE sends it.
	caeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1726077595"}}}`
)

// newAuthority starts authtest in TLS mode (posing as
// login.microsoftonline.com and graph.microsoft.com) with the test's app
// and two users for Graph to list.
func newAuthority(t *testing.T) *authtest.Server {
	t.Helper()
	srv := authtest.NewTLSServer(t, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret})
	srv.AddUser(authtest.User{Username: "adele@contoso.onmicrosoft.com", DisplayName: "Adele Vance", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "alex@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", TenantID: srv.TenantID(tenant)})
	return srv
}

// newApp is bearer's confidential application for the test's app at srv,
// with the cp1 capability (CAE-ready tokens).
func newApp(t *testing.T, srv *authtest.Server) *flow.Confidential {
	t.Helper()
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority(srv.Authority(tenant)),
		flow.WithCapabilities("cp1"),
		flow.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// users decodes Graph's list of users and returns their display names.
func users(t *testing.T, body io.Reader) string {
	t.Helper()
	var list struct {
		Value []struct{ DisplayName string } `json:"value"`
	}
	if err := json.NewDecoder(body).Decode(&list); err != nil {
		t.Fatalf("decoding the users: %v", err)
	}
	var names []string
	for _, u := range list.Value {
		names = append(names, u.DisplayName)
	}
	return strings.Join(names, ", ")
}

// resourceAnswers counts the answers of authtest's Graph by status.
func resourceAnswers(srv *authtest.Server) map[int]int {
	n := map[int]int{}
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		n[r.Status]++
	}
	return n
}

// tokenClaims returns the claims parameter of each token request.
func tokenClaims(srv *authtest.Server) []string {
	var out []string
	for _, r := range srv.RequestsTo(authtest.EndpointToken) {
		out = append(out, r.Form.Get("claims"))
	}
	return out
}

// TestCredentialInBearerTokenPolicy: an azcore pipeline whose
// BearerTokenPolicy gets its tokens from a flow application through
// Credential lists Graph's users; after a CAE revocation, Graph answers
// with a claims challenge, the policy asks the credential with those
// claims, the application gets a new token carrying them (its cache
// skipped) and the request is sent once more.
func TestCredentialInBearerTokenPolicy(t *testing.T) {
	srv := newAuthority(t)
	cred := azure.Credential(newApp(t, srv).ClientSource())
	pl := runtime.NewPipeline("bearer-azure-test", "v0.0.0",
		runtime.PipelineOptions{PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{graphScope}, nil)}},
		&policy.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}})
	list := func() string {
		t.Helper()
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, usersURL)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatalf("listing users: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("listing users: %s", resp.Status)
		}
		return users(t, resp.Body)
	}

	for range 2 {
		if got := list(); got != "Adele Vance, Alex Wilber" {
			t.Fatalf("users %q", got)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for two calls, want 1", n)
	}

	srv.Revoke(clientID)
	if got := list(); got != "Adele Vance, Alex Wilber" {
		t.Fatalf("after the revocation: users %q", got)
	}
	claims := tokenClaims(srv)
	if len(claims) != 2 {
		t.Fatalf("%d token requests, want 2 (one for the challenge)", len(claims))
	}
	if !strings.Contains(claims[0], `"cp1"`) || strings.Contains(claims[0], `"nbf"`) {
		t.Errorf("first token request's claims %s, want the cp1 capability only", claims[0])
	}
	if !strings.Contains(claims[1], `"nbf"`) || !strings.Contains(claims[1], `"cp1"`) {
		t.Errorf("the challenge's token request has claims %s, want the challenge's nbf and cp1", claims[1])
	}
	if got := resourceAnswers(srv); got[200] != 3 || got[401] != 1 || len(got) != 2 {
		t.Errorf("Graph answered %v, want three 200s and one 401 (one resend)", got)
	}
}

// TestCredentialPassesTenant: GetToken's TenantID reaches the bearer
// source, whose token request goes to that tenant.
func TestCredentialPassesTenant(t *testing.T) {
	srv := newAuthority(t)
	cred := azure.Credential(newApp(t, srv).ClientSource())
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{graphScope}, TenantID: "fabrikam.onmicrosoft.com"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 1 || reqs[0].Tenant != "fabrikam.onmicrosoft.com" {
		t.Fatalf("token requests %v, want one to tenant fabrikam.onmicrosoft.com", reqs)
	}
	claims, err := srv.Verify(tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if claims["tid"] != srv.TenantID("fabrikam.onmicrosoft.com") {
		t.Errorf("token of tenant %v, want fabrikam's %s", claims["tid"], srv.TenantID("fabrikam.onmicrosoft.com"))
	}
}

// TestCredentialConverts: what Credential asks its bearer source for,
// and what it hands back to azcore.
func TestCredentialConverts(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	refresh := expires.Add(-30 * time.Minute)
	sourceErr := errors.New("the authority is down")
	tests := []struct {
		name    string
		opts    policy.TokenRequestOptions
		tok     bearer.Token
		err     error
		want    bearer.TokenRequest
		wantTok azcore.AccessToken
		wantErr func(error) bool
	}{
		{"scopes, claims and tenant pass through",
			policy.TokenRequestOptions{Scopes: []string{graphScope}, Claims: caeClaims, TenantID: "fabrikam.com", EnableCAE: true},
			bearer.Token{AccessToken: "at", ExpiresOn: expires, RefreshOn: refresh}, nil,
			bearer.TokenRequest{Scopes: []string{graphScope}, Claims: caeClaims, TenantID: "fabrikam.com"},
			azcore.AccessToken{Token: "at", ExpiresOn: expires, RefreshOn: refresh}, nil},
		{"EnableCAE asks for nothing more",
			policy.TokenRequestOptions{Scopes: []string{graphScope}},
			bearer.Token{AccessToken: "at", TokenType: "Bearer", ExpiresOn: expires}, nil,
			bearer.TokenRequest{Scopes: []string{graphScope}},
			azcore.AccessToken{Token: "at", ExpiresOn: expires}, nil},
		{"the source's error is wrapped", policy.TokenRequestOptions{Scopes: []string{graphScope}},
			bearer.Token{}, sourceErr, bearer.TokenRequest{Scopes: []string{graphScope}}, azcore.AccessToken{},
			func(err error) bool { return errors.Is(err, sourceErr) }},
		{"a DPoP token is refused", policy.TokenRequestOptions{Scopes: []string{graphScope}},
			bearer.Token{AccessToken: "secret-pop", TokenType: "DPoP"}, nil, bearer.TokenRequest{Scopes: []string{graphScope}}, azcore.AccessToken{},
			func(err error) bool {
				return strings.Contains(err.Error(), `"DPoP"`) && !strings.Contains(err.Error(), "secret-pop")
			}},
		{"an empty token is refused", policy.TokenRequestOptions{Scopes: []string{graphScope}},
			bearer.Token{}, nil, bearer.TokenRequest{Scopes: []string{graphScope}}, azcore.AccessToken{},
			func(err error) bool { return strings.Contains(err.Error(), "empty access token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []bearer.TokenRequest
			cred := azure.Credential(bearer.TokenSourceFunc(func(_ context.Context, req bearer.TokenRequest) (bearer.Token, error) {
				asked = append(asked, req)
				return tt.tok, tt.err
			}))
			got, err := cred.GetToken(context.Background(), tt.opts)
			if len(asked) != 1 || strings.Join(asked[0].Scopes, " ") != strings.Join(tt.want.Scopes, " ") ||
				asked[0].Claims != tt.want.Claims || asked[0].TenantID != tt.want.TenantID || asked[0].ForceRefresh || asked[0].Challenge != nil {
				t.Errorf("the source was asked %+v, want %+v", asked, tt.want)
			}
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("GetToken = %v; want the error described", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.wantTok {
				t.Errorf("GetToken = %+v, want %+v", got, tt.wantTok)
			}
		})
	}
}

// TestSourceWithAzidentity: an azidentity client secret credential,
// pointed at authtest, drives bearer.Transport. Source asks with
// EnableCAE, so azidentity declares cp1; after a revocation, Graph's
// claims challenge reaches azidentity as Claims, it gets a new token with
// them (its cache skipped) and the transport sends the request once more.
func TestSourceWithAzidentity(t *testing.T) {
	srv := newAuthority(t)
	cred, err := azidentity.NewClientSecretCredential(tenant, clientID, clientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: policy.ClientOptions{Transport: srv.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &bearer.Transport{
		Source: azure.Source(cred),
		Scopes: []string{graphScope},
		Base:   srv.Client().Transport,
	}}
	list := func() string {
		t.Helper()
		resp, err := c.Get(usersURL)
		if err != nil {
			t.Fatalf("listing users: %v", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("listing users: %s", resp.Status)
		}
		return users(t, resp.Body)
	}
	for range 2 {
		if got := list(); got != "Adele Vance, Alex Wilber" {
			t.Fatalf("users %q", got)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for two calls, want 1 (azidentity caches)", n)
	}

	srv.Revoke(clientID)
	if got := list(); got != "Adele Vance, Alex Wilber" {
		t.Fatalf("after the revocation: users %q", got)
	}
	claims := tokenClaims(srv)
	if len(claims) != 2 {
		t.Fatalf("%d token requests, want 2 (one for the challenge)", len(claims))
	}
	if !strings.Contains(strings.ToLower(claims[0]), `"cp1"`) { // azidentity writes "CP1"
		t.Errorf("first token request's claims %q, want the cp1 capability (EnableCAE)", claims[0])
	}
	if !strings.Contains(claims[1], `"nbf"`) {
		t.Errorf("the challenge's token request has claims %q, want the challenge's", claims[1])
	}
	if got := resourceAnswers(srv); got[200] != 3 || got[401] != 1 || len(got) != 2 {
		t.Errorf("Graph answered %v, want three 200s and one 401 (one resend)", got)
	}
}

// recordingCredential is an azcore.TokenCredential that records what it
// is asked, for the table below (the end-to-end tests use azidentity).
type recordingCredential struct {
	asked []policy.TokenRequestOptions
	tok   azcore.AccessToken
	err   error
}

func (c *recordingCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.asked = append(c.asked, o)
	return c.tok, c.err
}

// TestSourceAsks: what Source asks the credential for each kind of
// request, and what it answers.
func TestSourceAsks(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	refresh := expires.Add(-30 * time.Minute)
	stepUp := challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_user_authentication", "acr_values": "urn:gold"}}
	cae := challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_claims", "claims": "e30"}}
	credErr := errors.New("AADSTS7000215: invalid client secret")
	tests := []struct {
		name    string
		req     bearer.TokenRequest
		err     error
		want    []policy.TokenRequestOptions
		wantErr error
	}{
		{"plain request asks for a CAE token", bearer.TokenRequest{Scopes: []string{graphScope}}, nil,
			[]policy.TokenRequestOptions{{Scopes: []string{graphScope}, EnableCAE: true}}, nil},
		{"claims and tenant pass through", bearer.TokenRequest{Scopes: []string{graphScope}, Claims: caeClaims, TenantID: "fabrikam.com", Challenge: &cae}, nil,
			[]policy.TokenRequestOptions{{Scopes: []string{graphScope}, Claims: caeClaims, TenantID: "fabrikam.com", EnableCAE: true}}, nil},
		{"force refresh asks again", bearer.TokenRequest{Scopes: []string{graphScope}, ForceRefresh: true}, nil,
			[]policy.TokenRequestOptions{{Scopes: []string{graphScope}, EnableCAE: true}}, nil},
		{"step-up needs interaction", bearer.TokenRequest{Scopes: []string{graphScope}, Challenge: &stepUp}, nil,
			nil, bearer.ErrInteractionRequired},
		{"the credential's error is wrapped", bearer.TokenRequest{Scopes: []string{graphScope}}, credErr,
			[]policy.TokenRequestOptions{{Scopes: []string{graphScope}, EnableCAE: true}}, credErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := &recordingCredential{tok: azcore.AccessToken{Token: "at", ExpiresOn: expires, RefreshOn: refresh}, err: tt.err}
			got, err := azure.Source(cred).Token(context.Background(), tt.req)
			if len(cred.asked) != len(tt.want) {
				t.Fatalf("GetToken called with %+v, want %+v", cred.asked, tt.want)
			}
			for i, o := range cred.asked {
				w := tt.want[i]
				if strings.Join(o.Scopes, " ") != strings.Join(w.Scopes, " ") || o.Claims != w.Claims || o.TenantID != w.TenantID || o.EnableCAE != w.EnableCAE {
					t.Errorf("GetToken called with %+v, want %+v", o, w)
				}
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Token = %v; want an error wrapping %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := bearer.Token{AccessToken: "at", TokenType: "Bearer", ExpiresOn: expires, RefreshOn: refresh}
			if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType || !got.ExpiresOn.Equal(want.ExpiresOn) || !got.RefreshOn.Equal(want.RefreshOn) {
				t.Errorf("Token = %+v, want %+v", got, want)
			}
		})
	}
}

// TestRoundTrips: converting one way and back gives the original, with
// everything it can do (a bearer source's ForceRefresh, a credential's
// own options).
func TestRoundTrips(t *testing.T) {
	cred := &recordingCredential{}
	if got := azure.Credential(azure.Source(cred)); got != azcore.TokenCredential(cred) {
		t.Errorf("Credential(Source(cred)) = %T, want cred", got)
	}
	src := bearer.ReuseTokenSource(bearer.TokenSourceFunc(func(context.Context, bearer.TokenRequest) (bearer.Token, error) {
		return bearer.Token{}, nil
	}))
	if got := azure.Source(azure.Credential(src)); got != src {
		t.Errorf("Source(Credential(src)) = %T, want src", got)
	}
}

// staticCredential answers every GetToken with the same token.
type staticCredential struct{ tok azcore.AccessToken }

func (c staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return c.tok, nil
}

// TestPerRequestPathsDoNotAllocate: bearer.Transport asks its source on
// every request, and BearerTokenPolicy its credential whenever its own
// cache needs it; neither conversion adds an allocation.
func TestPerRequestPathsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	src := azure.Source(staticCredential{azcore.AccessToken{Token: "at", ExpiresOn: time.Now().Add(time.Hour)}})
	req := bearer.TokenRequest{Scopes: []string{graphScope}}
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := src.Token(ctx, req); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Source: %v allocations per Token", allocs)
	}
	cred := azure.Credential(bearer.TokenSourceFunc(func(context.Context, bearer.TokenRequest) (bearer.Token, error) {
		return bearer.Token{AccessToken: "at"}, nil
	}))
	opts := policy.TokenRequestOptions{Scopes: []string{graphScope}}
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := cred.GetToken(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Credential: %v allocations per GetToken", allocs)
	}
}
