package oauth2x_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/challenge"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
	"github.com/bearerhttp/bearer/oauth2x"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clientID     = "0a0a0a0a-1111-4222-8333-444444444444"
	clientSecret = "oauth2x-test-not-a-real-secret"
	tenant       = "contoso.onmicrosoft.com"
	graphScope   = "https://graph.microsoft.com/.default"
	usersURL     = "https://graph.microsoft.com/v1.0/users"
)

// newAuthority starts authtest in TLS mode (posing as
// login.microsoftonline.com and graph.microsoft.com) with the test's app
// and two users for Graph to list. Error responses are expected in some
// tests: its log is discarded.
func newAuthority(t *testing.T) *authtest.Server {
	t.Helper()
	srv := authtest.NewTLSServer(t, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	srv.AddClient(authtest.Client{ID: clientID, Secret: clientSecret})
	srv.AddUser(authtest.User{Username: "adele@contoso.onmicrosoft.com", DisplayName: "Adele Vance", TenantID: srv.TenantID(tenant)})
	srv.AddUser(authtest.User{Username: "alex@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", TenantID: srv.TenantID(tenant)})
	return srv
}

// clientCredentials is the x/oauth2 configuration of the test's app at
// srv; extra are added to the token request's form.
func clientCredentials(srv *authtest.Server, extra url.Values) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:       clientID,
		ClientSecret:   clientSecret,
		TokenURL:       srv.Authority(tenant) + "/oauth2/v2.0/token",
		Scopes:         []string{graphScope},
		AuthStyle:      oauth2.AuthStyleInParams,
		EndpointParams: extra,
	}
}

// oauth2Context makes x/oauth2 reach srv.
func oauth2Context(srv *authtest.Server) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
}

// listUsers GETs Graph's users through c and returns the status and the
// users' display names.
func listUsers(t *testing.T, c *http.Client) (int, []string, error) {
	t.Helper()
	resp, err := c.Get(usersURL)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Value []struct{ DisplayName string } `json:"value"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("decoding the users: %v", err)
		}
	}
	var names []string
	for _, u := range body.Value {
		names = append(names, u.DisplayName)
	}
	return resp.StatusCode, names, nil
}

func wantUsers(t *testing.T, status int, names []string, err error) {
	t.Helper()
	if err != nil || status != http.StatusOK || strings.Join(names, ", ") != "Adele Vance, Alex Wilber" {
		t.Fatalf("listing users: status %d, names %q, error %v; want 200 and both users", status, names, err)
	}
}

// resourceRequests counts the requests authtest's Graph answered with
// each status.
func resourceRequests(srv *authtest.Server) map[int]int {
	n := map[int]int{}
	for _, r := range srv.RequestsTo(authtest.EndpointResource) {
		n[r.Status]++
	}
	return n
}

// TestTokenSourceDrivesOAuth2Transport: a flow application's source,
// through TokenSource, authorizes oauth2.Transport's requests to Graph;
// the app's cache serves the second call.
func TestTokenSourceDrivesOAuth2Transport(t *testing.T) {
	srv := newAuthority(t)
	app, err := flow.NewConfidential(clientID, credential.Secret(clientSecret),
		flow.WithAuthority(srv.Authority(tenant)), flow.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2x.TokenSource(context.Background(), app.ClientSource(), graphScope),
		Base:   srv.Client().Transport,
	}}
	for range 2 {
		status, names, err := listUsers(t, c)
		wantUsers(t, status, names, err)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for two calls, want 1 (the app caches)", n)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) > 0 && reqs[0].Form.Get("scope") != graphScope {
		t.Errorf("token request for scope %q, want %q", reqs[0].Form.Get("scope"), graphScope)
	}
}

// TestTokenSourceConverts: what TokenSource hands to x/oauth2 for what
// the bearer source answers, and what it asks the source for.
func TestTokenSourceConverts(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sourceErr := errors.New("the authority is down")
	tests := []struct {
		name    string
		tok     bearer.Token
		err     error
		want    *oauth2.Token
		wantErr func(error) bool
	}{
		{"an untyped token is Bearer", bearer.Token{AccessToken: "at-1", ExpiresOn: expires},
			nil, &oauth2.Token{AccessToken: "at-1", TokenType: "Bearer", Expiry: expires}, nil},
		{"the type is normalized", bearer.Token{AccessToken: "at-2", TokenType: "bearer", ExpiresOn: expires},
			nil, &oauth2.Token{AccessToken: "at-2", TokenType: "Bearer", Expiry: expires}, nil},
		{"no expiry stays none", bearer.Token{AccessToken: "at-3"},
			nil, &oauth2.Token{AccessToken: "at-3", TokenType: "Bearer"}, nil},
		{"the source's error is wrapped", bearer.Token{}, sourceErr, nil,
			func(err error) bool { return errors.Is(err, sourceErr) }},
		{"interaction required stays visible", bearer.Token{}, bearer.ErrInteractionRequired, nil,
			func(err error) bool { return errors.Is(err, bearer.ErrInteractionRequired) }},
		{"a DPoP token is refused", bearer.Token{AccessToken: "at-4", TokenType: "DPoP"}, nil, nil,
			func(err error) bool {
				return strings.Contains(err.Error(), `"DPoP"`) && !strings.Contains(err.Error(), "at-4")
			}},
		{"an empty token is refused", bearer.Token{}, nil, nil,
			func(err error) bool { return strings.Contains(err.Error(), "empty access token") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type ctxKey struct{}
			ctx := context.WithValue(context.Background(), ctxKey{}, "mine")
			scopes := []string{"api://orders/.default"}
			var asked []bearer.TokenRequest
			src := bearer.TokenSourceFunc(func(c context.Context, req bearer.TokenRequest) (bearer.Token, error) {
				if c.Value(ctxKey{}) != "mine" {
					t.Error("the source was not given TokenSource's context")
				}
				asked = append(asked, req)
				return tt.tok, tt.err
			})
			ts := oauth2x.TokenSource(ctx, src, scopes...)
			scopes[0] = "changed by the caller"
			got, err := ts.Token()
			if len(asked) != 1 || len(asked[0].Scopes) != 1 || asked[0].Scopes[0] != "api://orders/.default" ||
				asked[0].Claims != "" || asked[0].ForceRefresh || asked[0].TenantID != "" {
				t.Errorf("the source was asked %+v, want one plain request for api://orders/.default", asked)
			}
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Token() = %v, %v; want the error described", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessToken != tt.want.AccessToken || got.TokenType != tt.want.TokenType || !got.Expiry.Equal(tt.want.Expiry) {
				t.Errorf("Token() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSourceWithClientCredentials: a clientcredentials.Config's source
// drives bearer.Transport; its own cache serves later calls.
func TestSourceWithClientCredentials(t *testing.T) {
	srv := newAuthority(t)
	cfg := clientCredentials(srv, nil)
	c := &http.Client{Transport: &bearer.Transport{
		Source: oauth2x.Source(cfg.TokenSource(oauth2Context(srv))),
		Scopes: []string{graphScope},
		Base:   srv.Client().Transport,
	}}
	for range 3 {
		status, names, err := listUsers(t, c)
		wantUsers(t, status, names, err)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for three calls, want 1", n)
	}
}

// TestSourceChallengeForcesRefresh: Graph refuses a token the authority
// considers expired (its clock ran ahead of the client's) with
// error="invalid_token"; the transport asks again with ForceRefresh. A
// fetching source under bearer.ReuseTokenSource gets a new token and the
// resend succeeds; x/oauth2's caching source hands back the same token,
// which the transport does not resend: the 401 is returned, never a loop.
func TestSourceChallengeForcesRefresh(t *testing.T) {
	tests := []struct {
		name       string
		source     func(*clientcredentials.Config, context.Context) bearer.TokenSource
		wantStatus int
		wantTokens int         // token requests at the authority, in all
		wantSent   map[int]int // Graph's answers, by status
	}{
		{"fetching source under ReuseTokenSource",
			func(cfg *clientcredentials.Config, ctx context.Context) bearer.TokenSource {
				return bearer.ReuseTokenSource(oauth2x.Source(oauth2x.TokenSourceFunc(func() (*oauth2.Token, error) {
					return cfg.Token(ctx)
				})))
			},
			http.StatusOK, 2, map[int]int{200: 2, 401: 1}},
		{"x/oauth2's caching source",
			func(cfg *clientcredentials.Config, ctx context.Context) bearer.TokenSource {
				return oauth2x.Source(cfg.TokenSource(ctx))
			},
			http.StatusUnauthorized, 1, map[int]int{200: 1, 401: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAuthority(t)
			c := &http.Client{Transport: &bearer.Transport{
				Source: tt.source(clientCredentials(srv, nil), oauth2Context(srv)),
				Scopes: []string{graphScope},
				Base:   srv.Client().Transport,
			}}
			status, names, err := listUsers(t, c)
			wantUsers(t, status, names, err)

			srv.Advance(2 * time.Hour) // the token has expired for Graph, not yet for the client
			status, _, err = listUsers(t, c)
			if err != nil || status != tt.wantStatus {
				t.Fatalf("after the authority's clock moved: status %d, error %v; want %d", status, err, tt.wantStatus)
			}
			if n := srv.TokenRequests(); n != tt.wantTokens {
				t.Errorf("%d token requests, want %d", n, tt.wantTokens)
			}
			if got := resourceRequests(srv); got[200] != tt.wantSent[200] || got[401] != tt.wantSent[401] || len(got) != len(tt.wantSent) {
				t.Errorf("Graph answered %v, want %v", got, tt.wantSent)
			}
		})
	}
}

// TestSourceClaimsChallengeNeedsInteraction: a client that declared the
// cp1 capability (through the token request's claims parameter) meets a
// CAE claims challenge after a revocation. An oauth2.TokenSource cannot
// ask for those claims: the caller gets a *bearer.ChallengeError wrapping
// ErrInteractionRequired, with the challenge, after one request (no
// resend) and no new token request.
func TestSourceClaimsChallengeNeedsInteraction(t *testing.T) {
	srv := newAuthority(t)
	cfg := clientCredentials(srv, url.Values{"claims": {`{"access_token":{"xms_cc":{"values":["cp1"]}}}`}})
	c := &http.Client{Transport: &bearer.Transport{
		Source: oauth2x.Source(cfg.TokenSource(oauth2Context(srv))),
		Scopes: []string{graphScope},
		Base:   srv.Client().Transport,
	}}
	status, names, err := listUsers(t, c)
	wantUsers(t, status, names, err)

	srv.Revoke(clientID)
	_, _, err = listUsers(t, c)
	var ce *bearer.ChallengeError
	if !errors.As(err, &ce) || !errors.Is(err, bearer.ErrInteractionRequired) {
		t.Fatalf("after a revocation: error %v; want a *bearer.ChallengeError wrapping ErrInteractionRequired", err)
	}
	if !ce.Challenge.IsCAE() || ce.StatusCode != http.StatusUnauthorized {
		t.Errorf("the error carries %d %+v, want the 401's CAE challenge", ce.StatusCode, ce.Challenge)
	}
	if n := srv.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if got := resourceRequests(srv); got[200] != 1 || got[401] != 1 || len(got) != 2 {
		t.Errorf("Graph answered %v, want one 200 and one 401", got)
	}
}

// countingSource is an oauth2.TokenSource that counts its calls.
type countingSource struct {
	calls atomic.Int32
	tok   *oauth2.Token
	err   error
}

func (s *countingSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	return s.tok, s.err
}

// TestSourceAnswers: what Source answers for each kind of request, and
// whether it calls the oauth2.TokenSource.
func TestSourceAnswers(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	stepUp := challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "insufficient_user_authentication", "acr_values": "urn:gold"}}
	invalid := challenge.Challenge{Scheme: "Bearer", Params: map[string]string{"error": "invalid_token"}}
	fetchErr := errors.New("connection refused")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		req       bearer.TokenRequest
		tok       *oauth2.Token
		err       error
		want      bearer.Token
		wantErr   error // errors.Is
		wantCalls int32
	}{
		{"plain request", context.Background(), bearer.TokenRequest{Scopes: []string{graphScope}},
			&oauth2.Token{AccessToken: "at", Expiry: expires}, nil,
			bearer.Token{AccessToken: "at", TokenType: "Bearer", ExpiresOn: expires}, nil, 1},
		{"the token type is kept", context.Background(), bearer.TokenRequest{},
			&oauth2.Token{AccessToken: "at", TokenType: "mac"}, nil,
			bearer.Token{AccessToken: "at", TokenType: "MAC"}, nil, 1},
		{"force refresh asks again", context.Background(), bearer.TokenRequest{ForceRefresh: true, Challenge: &invalid},
			&oauth2.Token{AccessToken: "at"}, nil,
			bearer.Token{AccessToken: "at", TokenType: "Bearer"}, nil, 1},
		{"claims need interaction", context.Background(), bearer.TokenRequest{Claims: `{"access_token":{"nbf":{"essential":true,"value":"1"}}}`},
			&oauth2.Token{AccessToken: "at"}, nil, bearer.Token{}, bearer.ErrInteractionRequired, 0},
		{"step-up needs interaction", context.Background(), bearer.TokenRequest{Challenge: &stepUp},
			&oauth2.Token{AccessToken: "at"}, nil, bearer.Token{}, bearer.ErrInteractionRequired, 0},
		{"a tenant is unsupported", context.Background(), bearer.TokenRequest{TenantID: "fabrikam.com"},
			&oauth2.Token{AccessToken: "at"}, nil, bearer.Token{}, errors.ErrUnsupported, 0},
		{"an ended context", canceled, bearer.TokenRequest{},
			&oauth2.Token{AccessToken: "at"}, nil, bearer.Token{}, context.Canceled, 0},
		{"the source's error is wrapped", context.Background(), bearer.TokenRequest{},
			nil, fetchErr, bearer.Token{}, fetchErr, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := &countingSource{tok: tt.tok, err: tt.err}
			got, err := oauth2x.Source(ts).Token(tt.ctx, tt.req)
			if n := ts.calls.Load(); n != tt.wantCalls {
				t.Errorf("oauth2.TokenSource called %d times, want %d", n, tt.wantCalls)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Token = %v, %v; want an error wrapping %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessToken != tt.want.AccessToken || got.TokenType != tt.want.TokenType || !got.ExpiresOn.Equal(tt.want.ExpiresOn) {
				t.Errorf("Token = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("no token and no error", func(t *testing.T) {
		_, err := oauth2x.Source(&countingSource{}).Token(context.Background(), bearer.TokenRequest{})
		if err == nil {
			t.Fatal("a nil token with no error was accepted")
		}
	})
}

// TestSourceKeepsHostSafety: with an oauth2.TokenSource behind it, the
// transport still sends the token only to the allowed host over HTTPS: a
// redirect to another origin goes without it, and plain HTTP to a
// non-loopback host is refused before any token is fetched.
func TestSourceKeepsHostSafety(t *testing.T) {
	srv := newAuthority(t)
	seen := make(chan string, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Authorization")
		io.WriteString(w, "landed")
	}))
	defer other.Close()
	allowed := make(chan string, 1)
	var otherURL string // set below, before the first request
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed <- r.Header.Get("Authorization")
		http.Redirect(w, r, otherURL+"/landing", http.StatusFound)
	}))
	defer api.Close()
	// Every name dials 127.0.0.1 at the URL's port: no DNS, no packet off
	// loopback. httptest's certificate is valid for example.com.
	base := api.Client().Transport.(*http.Transport).Clone()
	base.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	defer base.CloseIdleConnections()
	apiURL := "https://example.com:" + api.URL[strings.LastIndex(api.URL, ":")+1:]
	otherURL = "http://other.example:" + other.URL[strings.LastIndex(other.URL, ":")+1:]

	ts := &countingSource{}
	cc := clientCredentials(srv, nil).TokenSource(oauth2Context(srv))
	c := &http.Client{Transport: &bearer.Transport{
		Source:       oauth2x.Source(oauth2x.TokenSourceFunc(func() (*oauth2.Token, error) { ts.calls.Add(1); return cc.Token() })),
		Scopes:       []string{graphScope},
		AllowedHosts: []string{"example.com"},
		Base:         base,
	}}
	resp, err := c.Get(apiURL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-allowed; !strings.HasPrefix(got, "Bearer ey") {
		t.Errorf("the allowed host got Authorization %q, want the token", got)
	}
	if got := <-seen; got != "" {
		t.Errorf("the host redirected to got Authorization %q, want none", got)
	}

	// Plain http to Graph's real host: refused before any token is
	// fetched and before any connection is made.
	plain := &http.Client{Transport: &bearer.Transport{
		Source: c.Transport.(*bearer.Transport).Source,
		Scopes: []string{graphScope},
		Base:   srv.Client().Transport,
	}}
	before := ts.calls.Load()
	_, err = plain.Get("http://graph.microsoft.com/v1.0/users")
	if !errors.Is(err, bearer.ErrInsecure) {
		t.Errorf("plain http to graph.microsoft.com: error %v, want one wrapping ErrInsecure", err)
	}
	if n := ts.calls.Load() - before; n != 0 {
		t.Errorf("the refused request fetched %d tokens", n)
	}
	if got := resourceRequests(srv); len(got) != 0 {
		t.Errorf("Graph received %v", got)
	}
}

// TestSourceCachedPathDoesNotAllocate: bearer.Transport asks its source
// on every request; over a caching oauth2.TokenSource, Source adds no
// allocation to that path.
func TestSourceCachedPathDoesNotAllocate(t *testing.T) {
	ts := oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}))
	src := oauth2x.Source(ts)
	ctx := context.Background()
	req := bearer.TokenRequest{Scopes: []string{graphScope}}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := src.Token(ctx, req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Token", allocs)
	}
}
