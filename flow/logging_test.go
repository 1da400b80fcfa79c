package flow

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

// flowRun is what a run of every flow left behind.
type flowRun struct {
	log     string
	texts   []string // errors and formatted results
	secrets []string // every secret the run used or received
	oid     string   // alice's object ID
}

// runEveryFlow runs every flow of the confidential client against
// authtest, logging at debug level: client credentials with a secret, a
// certificate and an assertion (with a retry and an error), on-behalf-of
// (grant, cache, refresh token, fallback, error) through the middleware
// and a transport, and the middleware's rejections.
func runEveryFlow(t *testing.T, pii bool) flowRun {
	t.Helper()
	var run flowRun
	var lb logBuffer
	var sl sleeps
	m := newMiddleTier(t, authtest.Client{})
	srv := m.srv
	cert, key := rsaCertificate(t)
	const fedIssuer, fedSubject = "https://ci.example", "workload-7"
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret, Certificates: []*x509.Certificate{cert},
		FederatedCredentials: []authtest.FederatedCredential{{Issuer: fedIssuer, Subject: fedSubject}}})
	shared := cache.New()
	opts := func(more ...Option) []Option {
		return append([]Option{WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()), WithClock(srv.Now),
			WithLogger(lb.logger()), WithPII(pii), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}), WithCapabilities("cp1"), WithCache(shared)}, more...)
	}
	certCred, err := credential.Certificate([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	var assertions []string
	fedCred := credential.Assertion(func(ctx context.Context, req credential.AssertionRequest) (string, error) {
		a := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: authtest.TokenExchangeAudience, Claims: map[string]any{"iss": fedIssuer, "sub": fedSubject}})
		assertions = append(assertions, a)
		return a, nil
	})
	// note records a call's outcome; must also fails the test on an error.
	note := func(r Result, err error) {
		if err != nil {
			run.texts = append(run.texts, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
			return
		}
		run.secrets = append(run.secrets, r.AccessToken, r.IDToken)
		run.texts = append(run.texts, fmt.Sprintf("%v %+v %#v %s", r, r, r, r))
	}
	must := func(r Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v", err)
		}
		note(r, err)
	}

	// Client credentials: a secret (with a retry, a forced refresh and
	// claims), a certificate, an assertion; a wrong secret.
	for i, cred := range []credential.Credential{credential.Secret(daemonSecret), certCred, fedCred} {
		app := mustConfidential(t, daemonID, cred, opts(WithCache(cache.New()))...)
		if i == 0 {
			srv.InjectFaults(1, authtest.Fault{Status: 503, RetryAfter: "1"})
		}
		must(app.AcquireTokenForClient(bg(), []string{graphDefault}))
		must(app.AcquireTokenForClient(bg(), []string{graphDefault}))
		must(app.AcquireTokenForClient(bg(), []string{graphDefault}, ForceRefresh(), Claims(`{"access_token":{"nbf":{"essential":true,"value":"1"}}}`)))
		tok, err := app.ClientSource().Token(bg(), bearer.TokenRequest{Scopes: []string{graphDefault}})
		must(Result{Token: tok}, err)
	}
	wrong := mustConfidential(t, daemonID, credential.Secret("wrong-s3cret-VALUE"), opts()...)
	note(wrong.AcquireTokenForClient(bg(), []string{graphDefault}))

	// On-behalf-of: the middleware validates alice's token, the handler
	// calls Graph through a transport on her behalf.
	mid := mustConfidential(t, middleID, credential.Secret(middleSecret), opts()...)
	graph := &http.Client{Transport: &bearer.Transport{Source: mid.OnBehalfOfSource(), Scopes: []string{"User.Read"}, Base: srv.Transport()}}
	h := mid.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
		resp, err := graph.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}), WithAudiences(middleAPI))
	alice := m.assertion(aliceName)
	run.secrets = append(run.secrets, alice)
	for _, authz := range []string{"Bearer " + alice, "Bearer " + m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: downstreamAPI, Subject: aliceName}), "Bearer not.a.jwt", ""} {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
			run.secrets = append(run.secrets, strings.TrimPrefix(authz, "Bearer "))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		run.texts = append(run.texts, w.Body.String(), w.Header().Get("WWW-Authenticate"))
		if authz == "Bearer "+alice && w.Code != 200 {
			t.Fatalf("the middle tier: %d %s", w.Code, w.Body)
		}
	}
	must(mid.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead))
	must(mid.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead))
	must(mid.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, ForceRefresh()))
	srv.RevokeRefreshTokens(aliceName)
	must(mid.AcquireTokenOnBehalfOf(bg(), alice, downstreamRead, ForceRefresh()))
	note(mid.AcquireTokenOnBehalfOf(bg(), m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: "api://someone-else", Subject: aliceName}), downstreamRead))
	if accts, err := mid.Accounts(bg(), aliceName); err != nil || len(accts) != 0 {
		t.Errorf("on-behalf-of accounts are listed: %v %v", accts, err)
	}

	// Every secret the run used or received.
	run.secrets = append(run.secrets, daemonSecret, middleSecret, "wrong-s3cret-VALUE")
	run.secrets = append(run.secrets, assertions...)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	for _, line := range strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n") {
		if len(line) == 64 {
			run.secrets = append(run.secrets, line)
		}
	}
	for _, r := range srv.Requests() {
		for _, f := range []string{"client_secret", "client_assertion", "assertion", "refresh_token"} {
			run.secrets = append(run.secrets, r.Form.Get(f))
		}
		if _, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
			run.secrets = append(run.secrets, tok)
		}
	}
	doc, err := shared.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	var sections map[string]map[string]map[string]any
	if err := json.Unmarshal(doc, &sections); err != nil {
		t.Fatal(err)
	}
	for _, entries := range sections {
		for _, e := range entries {
			if s, ok := e["secret"].(string); ok {
				run.secrets = append(run.secrets, s)
			}
		}
	}
	claims, _ := srv.Verify(alice)
	run.oid, _ = claims["oid"].(string)
	run.log = lb.String()
	return run
}

// TestEveryFlowLogsNoSecret runs every flow at debug level with PII on and
// looks for every secret the run used in the log, the errors and the
// printed results; then checks that personal data is logged only in PII
// mode.
func TestEveryFlowLogsNoSecret(t *testing.T) {
	run := runEveryFlow(t, true)
	secrets := 0
	for _, s := range run.secrets {
		if len(s) < 8 {
			continue
		}
		secrets++
		if strings.Contains(run.log, s) {
			t.Errorf("the log holds a secret (%d bytes, starting %.6s)", len(s), s)
		}
		for _, text := range run.texts {
			if strings.Contains(text, s) {
				t.Errorf("an error or printed value holds a secret (starting %.6s): %.200s", s, text)
			}
		}
	}
	if secrets < 30 {
		t.Errorf("only %d secrets were checked", secrets)
	}
	for _, want := range []string{
		"flow: client credentials: asking the authority", "flow: client credentials: token from the cache", "oauth: retrying",
		"flow: on-behalf-of: asking the authority", "flow: on-behalf-of: redeeming the assertion's refresh token",
		"flow: on-behalf-of: the refresh token was rejected", "flow: web API: token accepted", "flow: web API: token rejected",
		"flow: web API: signing keys read", "flow: token request failed", "elapsed=", "scopes=",
		"username=" + aliceName, "oid=" + run.oid,
	} {
		if !strings.Contains(run.log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	quiet := runEveryFlow(t, false)
	for _, pii := range []string{aliceName, quiet.oid} {
		if strings.Contains(quiet.log, pii) {
			t.Errorf("without PII mode the log shows %q", pii)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", run.log)
	}
}
