package flow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

const (
	middleID      = "middle-tier-app"
	middleSecret  = "middle-s3cret-VALUE"
	middleAPI     = "api://middle-tier"
	downstreamAPI = "api://downstream"
	aliceName     = "alice@contoso.com"
	bobName       = "bob@contoso.com"
)

var downstreamRead = []string{downstreamAPI + "/read"}

// middleTier is an authtest server (TLS, on a stopped clock at t0) with
// two users, a middle-tier API and its client, and a downstream API.
type middleTier struct {
	srv *authtest.Server
}

func newMiddleTier(t *testing.T, client authtest.Client, opts ...authtest.Option) middleTier {
	t.Helper()
	srv := authtest.NewTLSServer(t, opts...)
	srv.SetNow(t0)
	srv.AddUser(authtest.User{Username: aliceName, Password: "alice-pw", DisplayName: "Alice"})
	srv.AddUser(authtest.User{Username: bobName, Password: "bob-pw"})
	client.ID, client.Secret = middleID, middleSecret
	srv.AddClient(client)
	srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
	srv.AddAPI(authtest.API{Audience: downstreamAPI, Scopes: []string{"read", "write"}})
	return middleTier{srv: srv}
}

// assertion is a token user got from a front end for the middle tier.
func (m middleTier) assertion(user string) string {
	return m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Scopes: []string{"access"}, Subject: user, ClientID: "front-end"})
}

// app is the middle tier's confidential client.
func (m middleTier) app(t *testing.T, opts ...Option) *Confidential {
	t.Helper()
	return mustConfidential(t, middleID, credential.Secret(middleSecret),
		append([]Option{WithAuthority(m.srv.Authority("contoso.com")), WithHTTPClient(m.srv.Client()), WithClock(m.srv.Now)}, opts...)...)
}

// grants returns the grant types of the token requests since the last
// ResetRequests, with their status.
func (m middleTier) grants() []string {
	var out []string
	for _, r := range m.srv.RequestsTo(authtest.EndpointToken) {
		g := r.GrantType
		if g == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			g = "obo"
		}
		out = append(out, g+":"+strconv.Itoa(r.Status))
	}
	return out
}

func TestOnBehalfOf(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t, WithCapabilities("cp1"))
	alice := m.assertion(aliceName)

	r, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := m.srv.Verify(r.AccessToken)
	if err != nil || claims["aud"] != downstreamAPI || claims["preferred_username"] != aliceName || claims["scp"] != "read" {
		t.Fatalf("token claims %v: %v", claims, err)
	}
	req := m.srv.RequestsTo(authtest.EndpointToken)[0]
	if req.Form.Get("assertion") != alice || req.Form.Get("requested_token_use") != "on_behalf_of" || req.Form.Get("client_info") != "1" ||
		req.Form.Get("scope") != downstreamAPI+"/read openid offline_access profile" || !strings.Contains(req.Form.Get("claims"), `"cp1"`) {
		t.Errorf("the on-behalf-of request: %v", req)
	}
	if r.FromCache || r.IDToken == "" || r.IDTokenClaims["preferred_username"] != aliceName {
		t.Errorf("result %v, claims %v", r, r.IDTokenClaims)
	}
	oid, _ := claims["oid"].(string)
	want := Account{HomeAccountID: oid + "." + authtest.DefaultTenant, Environment: "login.microsoftonline.com", TenantID: authtest.DefaultTenant,
		Username: aliceName, LocalAccountID: oid, Name: "Alice", AuthorityType: AuthorityTypeMSSTS}
	if r.Account != want {
		t.Errorf("account %s, want %s", dumpAccount(r.Account), dumpAccount(want))
	}

	cached, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
	if err != nil || !cached.FromCache || cached.AccessToken != r.AccessToken || cached.IDToken != r.IDToken || cached.Account != r.Account {
		t.Errorf("second call: %v %s: %v", cached, dumpAccount(cached.Account), err)
	}
	if got := m.grants(); len(got) != 1 || got[0] != "obo:200" {
		t.Errorf("grants %v", got)
	}

	// Another user's assertion never gets alice's token.
	bob, err := app.AcquireTokenOnBehalfOf(bg(), m.assertion(bobName), downstreamRead)
	if err != nil || bob.FromCache || bob.Account.Username != bobName {
		t.Fatalf("bob: from cache %v, %v", bob.FromCache, err)
	}

	// ForceRefresh redeems the assertion's refresh token.
	m.srv.ResetRequests()
	forced, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, ForceRefresh())
	if err != nil || forced.FromCache || forced.AccessToken == r.AccessToken {
		t.Fatalf("ForceRefresh: %v", err)
	}
	if got := m.grants(); len(got) != 1 || got[0] != "refresh_token:200" {
		t.Errorf("grants %v, want one refresh token grant", got)
	}
	if f := m.srv.RequestsTo(authtest.EndpointToken)[0].Form; f.Get("assertion") != "" || f.Get("refresh_token") == "" {
		t.Error("the refresh token grant carried the assertion, or no refresh token")
	}
	if again, _ := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead); !again.FromCache || again.AccessToken != forced.AccessToken {
		t.Error("the refreshed token did not replace the cached one")
	}

	// Claims skip the cached access token, reach the authority merged
	// with the capabilities, and go with the refresh token.
	m.srv.ResetRequests()
	const nbf = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	if _, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, Claims(nbf)); err != nil {
		t.Fatal(err)
	}
	reqs := m.srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 1 || reqs[0].GrantType != "refresh_token" ||
		!contains(reqs[0].Form.Get("claims"), `"xms_cc":{"values":["cp1"]}`, `"nbf":{"essential":true,"value":"1700000000"}`) {
		t.Errorf("claims request: %v", reqs)
	}

	// A refresh token the authority rejects falls back to the
	// on-behalf-of grant.
	m.srv.ResetRequests()
	m.srv.RevokeRefreshTokens(aliceName)
	fb, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, ForceRefresh())
	if err != nil || fb.FromCache {
		t.Fatalf("after revoking the refresh tokens: %v", err)
	}
	if got := m.grants(); len(got) != 2 || got[0] != "refresh_token:400" || got[1] != "obo:200" {
		t.Errorf("grants %v, want the refresh token refused, then the on-behalf-of grant", got)
	}
}

// TestOnBehalfOfScopes checks that a .default scope finds its cached
// token although the authority answers with the resource's own scopes,
// and WithExcludeScopes.
func TestOnBehalfOfScopes(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	alice := m.assertion(aliceName)
	def := []string{downstreamAPI + "/.default"}
	r, err := app.AcquireTokenOnBehalfOf(bg(), alice, def)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(strings.Join(r.Scopes, " "), downstreamAPI+"/read", downstreamAPI+"/write") {
		t.Errorf("granted scopes %v", r.Scopes)
	}
	for _, scopes := range [][]string{def, {downstreamAPI + "/write"}, {strings.ToUpper(downstreamAPI + "/READ")}} {
		if c, _ := app.AcquireTokenOnBehalfOf(bg(), alice, scopes); !c.FromCache {
			t.Errorf("%v missed the cache", scopes)
		}
	}

	excl := m.app(t, WithExcludeScopes("offline_access"))
	m.srv.ResetRequests()
	if _, err := excl.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead); err != nil {
		t.Fatal(err)
	}
	if _, err := excl.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, ForceRefresh()); err != nil {
		t.Fatal(err)
	}
	reqs := m.srv.RequestsTo(authtest.EndpointToken)
	if s := reqs[0].Form.Get("scope"); strings.Contains(s, "offline_access") || !strings.Contains(s, "openid") {
		t.Errorf("scope %q", s)
	}
	if got := m.grants(); len(got) != 2 || got[1] != "obo:200" {
		t.Errorf("grants %v: without a refresh token, ForceRefresh uses the on-behalf-of grant", got)
	}
}

func TestOnBehalfOfErrors(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{RequireConsent: true})
	app := m.app(t)
	for _, a := range []string{"", "  "} {
		if _, err := app.AcquireTokenOnBehalfOf(bg(), a, downstreamRead); !errors.Is(err, ErrNoUserAssertion) {
			t.Errorf("assertion %q: %v", a, err)
		}
	}
	if n := len(m.srv.Requests()); n != 0 {
		t.Errorf("%d requests without an assertion", n)
	}
	_, err := app.AcquireTokenOnBehalfOf(bg(), m.assertion(aliceName), downstreamRead)
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != 400 || fe.Code != "invalid_grant" || fe.Suberror != "consent_required" ||
		len(fe.ErrorCodes) != 1 || fe.ErrorCodes[0] != 65001 || !strings.HasPrefix(fe.Description, "AADSTS65001:") ||
		fe.CorrelationID == "" || fe.TraceID == "" || fe.Timestamp == "" || fe.ClientRequestID == "" ||
		!errors.Is(err, ErrInteractionRequired) {
		t.Errorf("consent_required: %#v", err)
	}

	expired := m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Scopes: []string{"access"}, Subject: aliceName, Lifetime: time.Minute})
	m.srv.Advance(2 * time.Minute)
	_, err = app.AcquireTokenOnBehalfOf(bg(), expired, downstreamRead)
	if !errors.As(err, &fe) || fe.Code != "invalid_grant" || fe.ErrorCodes[0] != 500133 || errors.Is(err, ErrInteractionRequired) {
		t.Errorf("expired assertion: %v", err)
	}
	if strings.Contains(err.Error(), expired) {
		t.Error("the error shows the assertion")
	}
}

// TestOnBehalfOfBackgroundRefresh checks the proactive refresh of an
// on-behalf-of token: by the assertion's refresh token, in the
// background, the cached token served meanwhile.
func TestOnBehalfOfBackgroundRefresh(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{}, authtest.WithTokenLifetime(4*time.Hour))
	app := m.app(t)
	done := refreshes(app.app)
	alice := m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Scopes: []string{"access"}, Subject: aliceName, Lifetime: time.Hour})
	first, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
	if err != nil {
		t.Fatal(err)
	}
	m.srv.Advance(2 * time.Hour) // past RefreshOn, and the assertion has expired
	r, err := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead)
	if err != nil || !r.FromCache || r.AccessToken != first.AccessToken {
		t.Fatalf("past RefreshOn: %v", err)
	}
	if err := recv(t, done); err != nil {
		t.Fatalf("background refresh: %v", err)
	}
	if got := m.grants(); len(got) != 2 || got[1] != "refresh_token:200" {
		t.Errorf("grants %v", got)
	}
	if r, _ := app.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead); !r.FromCache || r.AccessToken == first.AccessToken {
		t.Error("the refreshed token is not served")
	}
}

// dumpAccount shows every field of a, for test failures.
func dumpAccount(a Account) string {
	type plain Account
	return fmt.Sprintf("%+v", plain(a))
}

// TestOnBehalfOfIgnoresTheRegion checks that on-behalf-of requests go to
// the global host when a region is configured: regional endpoints serve
// client credentials only (authtest refuses other grants there).
func TestOnBehalfOfIgnoresTheRegion(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t, WithRegion("westus2"))
	if _, err := app.AcquireTokenOnBehalfOf(bg(), m.assertion(aliceName), downstreamRead); err != nil {
		t.Fatal(err)
	}
	if h := m.srv.RequestsTo(authtest.EndpointToken)[0].Host; h != "login.microsoftonline.com" {
		t.Errorf("the on-behalf-of request went to %s", h)
	}
}
