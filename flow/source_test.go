package flow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
)

func TestClientSourceTranslatesRequests(t *testing.T) {
	srv, app := newDaemon(t, WithCapabilities("cp1"))
	src := app.ClientSource()
	scopes := []string{graphDefault}
	first, err := src.Token(bg(), bearer.TokenRequest{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := src.Token(bg(), bearer.TokenRequest{Scopes: scopes}); again.AccessToken != first.AccessToken || srv.TokenRequests() != 1 {
		t.Error("the source does not cache")
	}
	if r, _ := app.AcquireTokenForClient(bg(), scopes); r.AccessToken != first.AccessToken {
		t.Error("the source and AcquireTokenForClient do not share the cache")
	}
	forced, err := src.Token(bg(), bearer.TokenRequest{Scopes: scopes, ForceRefresh: true})
	if err != nil || forced.AccessToken == first.AccessToken {
		t.Errorf("ForceRefresh: %v", err)
	}
	other, err := src.Token(bg(), bearer.TokenRequest{Scopes: scopes, TenantID: "fabrikam.com"})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := srv.Verify(other.AccessToken); c["tid"] != srv.TenantID("fabrikam.com") {
		t.Errorf("TenantID: tid %v", c["tid"])
	}
	const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	withClaims, err := src.Token(bg(), bearer.TokenRequest{Scopes: scopes, Claims: claims})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if f := reqs[len(reqs)-1].Form.Get("claims"); !contains(f, `"acrs":{"essential":true,"value":"c1"}`, `"xms_cc":{"values":["cp1"]}`) {
		t.Errorf("claims form field %s", f)
	}
	if c, _ := srv.Verify(withClaims.AccessToken); c["acrs"] == nil {
		t.Errorf("the token has no acrs: %v", c)
	}
	if _, err := src.Token(bg(), bearer.TokenRequest{}); !errors.Is(err, ErrNoScopes) {
		t.Errorf("no scopes: %v", err)
	}
}

func TestSourcesRefuseStepUp(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	cs, err := challenge.Parse(`Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:gold", max_age="600"`)
	if err != nil || !cs[0].IsStepUp() {
		t.Fatal(cs, err)
	}
	req := bearer.TokenRequest{Scopes: downstreamRead, Challenge: &cs[0]}
	ctx := ContextWithUserAssertion(bg(), m.assertion(aliceName))
	for name, src := range map[string]bearer.TokenSource{"client": app.ClientSource(), "on_behalf_of": app.OnBehalfOfSource()} {
		_, err := src.Token(ctx, req)
		if !errors.Is(err, ErrInteractionRequired) || !errors.Is(err, bearer.ErrInteractionRequired) || !strings.Contains(err.Error(), "urn:gold") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if n := m.srv.TokenRequests(); n != 0 {
		t.Errorf("%d token requests for a step-up", n)
	}
	cae, _ := challenge.Parse(`Bearer error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxIn19fQ=="`)
	if _, err := app.OnBehalfOfSource().Token(ctx, bearer.TokenRequest{Scopes: downstreamRead, Challenge: &cae[0],
		Claims: `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`}); err != nil {
		t.Errorf("a claims challenge: %v", err)
	}
}

func TestOnBehalfOfSourceNeedsAnAssertion(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	src := app.OnBehalfOfSource()
	for name, ctx := range map[string]context.Context{"none": bg(), "empty": ContextWithUserAssertion(bg(), "")} {
		if _, err := src.Token(ctx, bearer.TokenRequest{Scopes: downstreamRead}); !errors.Is(err, ErrNoUserAssertion) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, ok := UserAssertionFromContext(ContextWithUserAssertion(bg(), "tok")); got != "tok" || !ok {
		t.Errorf("UserAssertionFromContext = %q, %v", got, ok)
	}
	if n := len(m.srv.Requests()); n != 0 {
		t.Errorf("%d requests without an assertion", n)
	}
}

// TestTransportRecoversFromCAE wires ClientSource to bearer.Transport in
// front of authtest's Graph, revokes the application's tokens, and checks
// that the transport gets a new token with the challenge's claims (merged
// with the cp1 capability) and the request succeeds.
func TestTransportRecoversFromCAE(t *testing.T) {
	srv, app := newDaemon(t, WithCapabilities("cp1"))
	hc := &http.Client{Transport: &bearer.Transport{Source: app.ClientSource(), Scopes: []string{graphDefault}, Base: srv.Transport()}}
	get := func() (int, string) {
		t.Helper()
		resp, err := hc.Get("https://graph.microsoft.com/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get(); status != 200 || !strings.Contains(body, `"value"`) {
		t.Fatalf("first request: %d %s", status, body)
	}
	srv.Revoke(daemonID)
	if status, body := get(); status != 200 {
		t.Fatalf("after the revocation: %d %s", status, body)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2", len(reqs))
	}
	var claims map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(reqs[1].Form.Get("claims")), &claims); err != nil {
		t.Fatalf("claims %q: %v", reqs[1].Form.Get("claims"), err)
	}
	if claims["access_token"]["nbf"] == nil || string(claims["access_token"]["xms_cc"]) != `{"values":["cp1"]}` {
		t.Errorf("the token request's claims %s lack the challenge's nbf or cp1", reqs[1].Form.Get("claims"))
	}
	res := srv.RequestsTo(authtest.EndpointResource)
	if len(res) != 3 || res[1].Status != 401 || res[2].Status != 200 {
		t.Errorf("resource requests: %v", res)
	}
	if status, _ := get(); status != 200 || srv.TokenRequests() != 2 {
		t.Errorf("the new token was not cached: %d token requests", srv.TokenRequests())
	}
}

// TestTransportOnBehalfOfServesEveryUser sends requests of two users
// through one transport whose source is OnBehalfOfSource.
func TestTransportOnBehalfOfServesEveryUser(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	hc := &http.Client{Transport: &bearer.Transport{Source: app.OnBehalfOfSource(), Scopes: []string{"User.Read"}, Base: m.srv.Transport()}}
	for range 2 {
		for _, user := range []string{aliceName, bobName} {
			ctx := ContextWithUserAssertion(bg(), m.assertion(user))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var me struct{ UserPrincipalName string }
			err = json.NewDecoder(resp.Body).Decode(&me)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || me.UserPrincipalName != user {
				t.Errorf("%s: %d %+v %v", user, resp.StatusCode, me, err)
			}
		}
	}
	// Each round used new assertions (new tokens from the front end), so
	// each call was an on-behalf-of request of its own.
	if n := m.srv.TokenRequests(); n != 4 {
		t.Errorf("%d token requests, want 4", n)
	}
}

// BenchmarkClientSourceCached is the cost of a token from ClientSource's
// cache, what a bearer.Transport pays on every request.
func BenchmarkClientSourceCached(b *testing.B) {
	srv := authtest.NewTLSServer(b)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	app := mustConfidential(b, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
	src := app.ClientSource()
	req := bearer.TokenRequest{Scopes: []string{graphDefault}}
	if _, err := src.Token(bg(), req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(bg(), req); err != nil {
			b.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 1 {
		b.Errorf("%d token requests", n)
	}
}

// BenchmarkOnBehalfOfSourceCached is the cost of an on-behalf-of token
// from the cache (hashing the assertion included).
func BenchmarkOnBehalfOfSourceCached(b *testing.B) {
	srv := authtest.NewTLSServer(b)
	srv.AddUser(authtest.User{Username: aliceName})
	srv.AddClient(authtest.Client{ID: middleID, Secret: middleSecret})
	srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
	srv.AddAPI(authtest.API{Audience: downstreamAPI, Scopes: []string{"read"}})
	app := mustConfidential(b, middleID, credential.Secret(middleSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
	ctx := ContextWithUserAssertion(bg(), srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Scopes: []string{"access"}, Subject: aliceName}))
	src := app.OnBehalfOfSource()
	req := bearer.TokenRequest{Scopes: downstreamRead}
	if _, err := src.Token(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTransportStepUpNeedsAUser checks that a step-up challenge reaches
// the caller of a transport whose source is ClientSource as a
// *bearer.ChallengeError wrapping ErrInteractionRequired, with no token
// request for it.
func TestTransportStepUpNeedsAUser(t *testing.T) {
	srv, app := newDaemon(t)
	srv.RequireACR("/v1.0/", "urn:gold", 0)
	hc := &http.Client{Transport: &bearer.Transport{Source: app.ClientSource(), Scopes: []string{graphDefault}, Base: srv.Transport()}}
	resp, err := hc.Get("https://graph.microsoft.com/v1.0/users")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("status %d, want an error", resp.StatusCode)
	}
	var ce *bearer.ChallengeError
	if !errors.As(err, &ce) || !errors.Is(err, ErrInteractionRequired) || !ce.Challenge.IsStepUp() || ce.StatusCode != 401 {
		t.Errorf("err = %v", err)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1 (none for the step-up)", n)
	}
}

// refusingResource is a resource on loopback (TLS) that answers every
// request with 401 invalid_token, and records the Authorization header
// of each.
type refusingResource struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRefusingResource(t *testing.T) *refusingResource {
	t.Helper()
	r := &refusingResource{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="invalid_token", error_description="The access token is invalid"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	// Connections dialed and not used are closed at shutdown
	// mid-handshake; the server would log each.
	r.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *refusingResource) hits() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.auth)
}

// transport is a bearer.Transport of src to the resource.
func (r *refusingResource) transport(src bearer.TokenSource, scopes []string) *http.Client {
	return &http.Client{Transport: &bearer.Transport{Source: src, Scopes: scopes, AllowedHosts: []string{"127.0.0.1"}, Base: r.Client().Transport}}
}

// get sends a GET with ctx and checks the 401 comes back.
func (r *refusingResource) get(t *testing.T, hc *http.Client, ctx context.Context) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/v1.0/users", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
}

// TestClientSourceLimitsInvalidTokenRefreshes sends 30 requests through
// bearer.Transport with ClientSource to a resource that refuses every
// token with invalid_token: the authority gets 2 token requests (the
// first token and one forced refresh), not 31; 30 s later on the
// application's clock, one more. ForceRefresh of the caller's own always
// asks the authority.
func TestClientSourceLimitsInvalidTokenRefreshes(t *testing.T) {
	srv, app := newDaemon(t)
	res := newRefusingResource(t)
	hc := res.transport(app.ClientSource(), []string{graphDefault})
	for range 30 {
		res.get(t, hc, bg())
	}
	if n := srv.TokenRequests(); n != 2 {
		t.Fatalf("%d token requests for 30 refused requests, want 2", n)
	}
	hits := res.hits()
	if len(hits) != 31 || hits[0] == hits[1] {
		t.Fatalf("the resource saw %d requests, want 31 (one resend, with a new token)", len(hits))
	}
	for i, h := range hits[2:] {
		if h != hits[1] {
			t.Fatalf("request %d carried another token than the forced refresh's", i+2)
		}
	}

	srv.Advance(forcedRefreshInterval - time.Second)
	res.get(t, hc, bg())
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("29 s later: %d token requests, want 2", n)
	}
	srv.Advance(time.Second)
	res.get(t, hc, bg())
	if n := srv.TokenRequests(); n != 3 {
		t.Errorf("30 s later: %d token requests, want 3", n)
	}
	if hits := res.hits(); len(hits) != 34 || hits[33] == hits[32] {
		t.Errorf("30 s later: the resource saw %d requests, want 34, the last with a new token", len(hits))
	}

	// Another tenant is another key: its recovery is not held back.
	tenant := bearer.TokenSourceFunc(func(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
		req.TenantID = "fabrikam.com"
		return app.ClientSource().Token(ctx, req)
	})
	res.get(t, res.transport(tenant, []string{graphDefault}), bg())
	if n := srv.TokenRequests(); n != 5 {
		t.Errorf("another tenant: %d token requests, want 5", n)
	}

	for range 3 {
		if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}, ForceRefresh()); err != nil {
			t.Fatal(err)
		}
		if _, err := app.ClientSource().Token(bg(), bearer.TokenRequest{Scopes: []string{graphDefault}, ForceRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.TokenRequests(); n != 11 {
		t.Errorf("after 6 explicit forced refreshes: %d token requests, want 11", n)
	}
}

// TestClientSourceLimitsConcurrentInvalidTokenRefreshes sends 30 requests
// at once to a resource that refuses every token: 2 token requests.
func TestClientSourceLimitsConcurrentInvalidTokenRefreshes(t *testing.T) {
	srv, app := newDaemon(t)
	res := newRefusingResource(t)
	hc := res.transport(app.ClientSource(), []string{graphDefault})
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, res.URL, nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests for 30 concurrent refused requests, want 2", n)
	}
}

// TestOnBehalfOfSourceLimitsInvalidTokenRefreshes does the same through
// OnBehalfOfSource: the limit holds per user.
func TestOnBehalfOfSourceLimitsInvalidTokenRefreshes(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	res := newRefusingResource(t)
	hc := res.transport(app.OnBehalfOfSource(), downstreamRead)
	alice := ContextWithUserAssertion(bg(), m.assertion(aliceName))
	for range 30 {
		res.get(t, hc, alice)
	}
	if g := m.grants(); len(g) != 2 {
		t.Fatalf("token requests %v for 30 refused requests, want 2", g)
	}
	if hits := res.hits(); len(hits) != 31 {
		t.Errorf("the resource saw %d requests, want 31", len(hits))
	}

	// Bob's recovery is not held back by Alice's.
	bob := ContextWithUserAssertion(bg(), m.assertion(bobName))
	res.get(t, hc, bob)
	if g := m.grants(); len(g) != 4 {
		t.Errorf("token requests %v after Bob's request, want 4", g)
	}

	m.srv.Advance(forcedRefreshInterval)
	res.get(t, hc, alice)
	if g := m.grants(); len(g) != 5 {
		t.Errorf("token requests %v 30 s later, want 5", g)
	}

	if _, err := app.AcquireTokenOnBehalfOf(bg(), m.assertion(aliceName), downstreamRead, ForceRefresh()); err != nil {
		t.Fatal(err)
	}
	if g := m.grants(); len(g) != 6 {
		t.Errorf("token requests %v after an explicit ForceRefresh, want 6", g)
	}
}

// TestAccountSourceLimitsInvalidTokenRefreshes sends 30 requests as a
// signed-in user, of a confidential and of a public client, to a resource
// that refuses every token with invalid_token: the refresh token is
// redeemed once (the forced refresh of the first request), and again only
// 30 s later; the user's account in another tenant is another key.
func TestAccountSourceLimitsInvalidTokenRefreshes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		app      func(*testing.T, *authtest.Server) (signer, func(Account) bearer.TokenSource)
		redirect string
	}{
		{"confidential", func(t *testing.T, srv *authtest.Server) (signer, func(Account) bearer.TokenSource) {
			app := webApp(t, srv, contosoID)
			return app, app.AccountSource
		}, webRedirect},
		{"public", func(t *testing.T, srv *authtest.Server) (signer, func(Account) bearer.TokenSource) {
			app := publicApp(t, srv, contosoID)
			return app, app.AccountSource
		}, pubRedirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := userServer(t)
			app, source := tc.app(t, srv)
			alice := userSignIn(t, srv, app, tc.redirect, aliceUser, []string{"User.Read"})
			res := newRefusingResource(t)
			hc := res.transport(source(alice.Account), []string{"User.Read"})
			before := srv.TokenRequests()
			for range 30 {
				res.get(t, hc, bg())
			}
			if n := srv.TokenRequests() - before; n != 1 {
				t.Fatalf("%d token requests for 30 refused requests, want 1 (one forced refresh)", n)
			}
			hits := res.hits()
			if len(hits) != 31 || hits[0] == hits[1] {
				t.Fatalf("the resource saw %d requests, want 31 (one resend, with a new token)", len(hits))
			}
			for i, h := range hits[2:] {
				if h != hits[1] {
					t.Fatalf("request %d carried another token than the forced refresh's", i+2)
				}
			}

			srv.Advance(forcedRefreshInterval - time.Second)
			res.get(t, hc, bg())
			if n := srv.TokenRequests() - before; n != 1 {
				t.Errorf("29 s later: %d token requests, want 1", n)
			}
			srv.Advance(time.Second)
			res.get(t, hc, bg())
			if n := srv.TokenRequests() - before; n != 2 {
				t.Errorf("30 s later: %d token requests, want 2", n)
			}

			// The user's account in a guest tenant is another key: its
			// recovery is not held back by the home account's.
			guest := userSignIn(t, srv, app, tc.redirect, aliceUser, []string{"User.Read"}, Tenant("fabrikam.com"))
			if guest.Account.TenantID == alice.Account.TenantID {
				t.Fatalf("the guest account's realm is the home account's, %q", guest.Account.TenantID)
			}
			srv.Advance(time.Second)
			res.get(t, hc, bg()) // the home account's recovery, 1 s after its last
			before = srv.TokenRequests()
			res.get(t, res.transport(source(guest.Account), []string{"User.Read"}), bg())
			if n := srv.TokenRequests() - before; n != 1 {
				t.Errorf("the guest account: %d token requests, want 1", n)
			}
		})
	}
}
