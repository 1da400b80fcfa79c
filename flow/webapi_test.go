package flow

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
)

// seen is what the handler behind the middleware saw of a request.
type seen struct {
	called    bool
	assertion string
	claims    map[string]any
}

// api is a middleware in front of a handler that records what it saw.
type api struct {
	m    middleTier
	app  *Confidential
	h    http.Handler
	last *seen
}

func newAPI(t *testing.T, m middleTier, appOpts []Option, opts ...MiddlewareOption) *api {
	a := &api{m: m, app: m.app(t, appOpts...), last: &seen{}}
	a.h = a.app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &seen{called: true}
		s.assertion, _ = UserAssertionFromContext(r.Context())
		s.claims, _ = TokenClaimsFromContext(r.Context())
		*a.last = *s
		io.WriteString(w, "ok")
	}), opts...)
	return a
}

// call serves a request with the given Authorization header values.
func (a *api) call(authorization ...string) *httptest.ResponseRecorder {
	*a.last = seen{}
	r := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
	for _, v := range authorization {
		r.Header.Add("Authorization", v)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, r)
	return w
}

// forge returns token with its header replaced by header and its
// signature by sig.
func forge(token, header, sig string) string {
	parts := strings.Split(token, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "." + sig
}

// kidOf returns the kid of a token's header.
func kidOf(t *testing.T, token string) string {
	var h struct{ Kid string }
	b, _ := decodeSegment(strings.Split(token, ".")[0])
	if err := json.Unmarshal(b, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: %v", b, err)
	}
	return h.Kid
}

func hs256(token, header string, key []byte) string {
	parts := strings.Split(token, ".")
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1]
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestMiddleware(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	a := newAPI(t, m, nil, WithAudiences(middleAPI))
	issue := func(spec authtest.AccessTokenSpec) string {
		if spec.Audience == "" {
			spec.Audience = middleAPI
		}
		if spec.Subject == "" {
			spec.Subject = aliceName
		}
		spec.Scopes = []string{"access"}
		return m.srv.IssueAccessToken(spec)
	}
	valid := issue(authtest.AccessTokenSpec{})
	kid := kidOf(t, valid)
	sig := strings.Split(valid, ".")[2]
	flipped := []byte(sig)
	if flipped[10] = 'A'; sig[10] == 'A' {
		flipped[10] = 'B'
	}
	tests := []struct {
		name        string
		header      []string
		status      int
		code        string // error="…" in WWW-Authenticate; "" for none
		description string // part of error_description
	}{
		{"valid_token", []string{"Bearer " + valid}, 200, "", ""},
		{"scheme_in_lower_case", []string{"bearer " + valid}, 200, "", ""},
		{"client_id_audience_by_default", nil, 0, "", ""}, // see below
		{"no_header", nil, 401, "", ""},
		{"other_scheme", []string{"Basic dXNlcjpwYXNz"}, 401, "", ""},
		{"no_token", []string{"Bearer"}, 400, "invalid_request", "no bearer token"},
		{"blank_token", []string{"Bearer   "}, 400, "invalid_request", "no bearer token"},
		{"token_with_a_space", []string{"Bearer abc def"}, 400, "invalid_request", "characters"},
		{"token_with_a_quote", []string{`Bearer abc"def`}, 400, "invalid_request", "characters"},
		{"two_headers", []string{"Bearer " + valid, "Bearer " + valid}, 400, "invalid_request", "more than one"},
		{"not_a_jwt", []string{"Bearer abcdef"}, 401, "invalid_token", "not a JWT"},
		{"header_not_json", []string{"Bearer e30K.e30.c2ln"}, 401, "invalid_token", "algorithm"},
		{"wrong_audience", []string{"Bearer " + issue(authtest.AccessTokenSpec{Audience: downstreamAPI})}, 401, "invalid_token", "audience"},
		{"wrong_issuer", []string{"Bearer " + issue(authtest.AccessTokenSpec{Tenant: "fabrikam.com"})}, 401, "invalid_token", "issuer"},
		{"forged_issuer", []string{"Bearer " + issue(authtest.AccessTokenSpec{Claims: map[string]any{"iss": "https://evil.example/v2.0"}})}, 401, "invalid_token", "issuer"},
		{"expired", []string{"Bearer " + issue(authtest.AccessTokenSpec{IssuedAt: t0.Add(-2 * time.Hour), Lifetime: time.Hour - time.Minute})}, 401, "invalid_token", "expired"},
		{"expired_within_skew", []string{"Bearer " + issue(authtest.AccessTokenSpec{IssuedAt: t0.Add(-time.Hour), Lifetime: time.Hour - 30*time.Second})}, 200, "", ""},
		{"not_valid_yet", []string{"Bearer " + issue(authtest.AccessTokenSpec{IssuedAt: t0.Add(5 * time.Minute)})}, 401, "invalid_token", "not valid yet"},
		{"no_expiry", []string{"Bearer " + issue(authtest.AccessTokenSpec{Claims: map[string]any{"exp": "tomorrow"}})}, 401, "invalid_token", "exp"},
		{"bad_signature", []string{"Bearer " + strings.Join(append(strings.Split(valid, ".")[:2], string(flipped)), ".")}, 401, "invalid_token", "signature"},
		{"alg_none", []string{"Bearer " + forge(valid, `{"alg":"none","kid":"`+kid+`","typ":"JWT"}`, "")}, 401, "invalid_token", "not RS256"},
		{"alg_none_with_signature", []string{"Bearer " + forge(valid, `{"alg":"none","kid":"`+kid+`"}`, sig)}, 401, "invalid_token", "not RS256"},
		{"alg_hs256", []string{"Bearer " + hs256(valid, `{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, []byte("any key"))}, 401, "invalid_token", "not RS256"},
		{"alg_ps256", []string{"Bearer " + forge(valid, `{"alg":"PS256","kid":"`+kid+`"}`, sig)}, 401, "invalid_token", "not RS256"},
		{"no_kid", []string{"Bearer " + forge(valid, `{"alg":"RS256","typ":"JWT"}`, sig)}, 401, "invalid_token", "kid"},
		{"critical_header", []string{"Bearer " + forge(valid, `{"alg":"RS256","kid":"`+kid+`","crit":["exp"],"exp":1}`, sig)}, 401, "invalid_token", "critical"},
		{"unencoded_payload", []string{"Bearer " + forge(valid, `{"alg":"RS256","kid":"`+kid+`","b64":false}`, sig)}, 401, "invalid_token", "critical"},
		{"header_changed_under_signature", []string{"Bearer " + forge(valid, `{"alg":"RS256","kid":"`+kid+`","typ":"JWT","x":1}`, sig)}, 401, "invalid_token", "signature"},
	}
	for _, tt := range tests {
		if tt.name == "client_id_audience_by_default" {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			w := a.call(tt.header...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s %s", w.Code, tt.status, w.Header().Get("WWW-Authenticate"), w.Body)
			}
			ch := w.Header().Get("WWW-Authenticate")
			if tt.status == 200 {
				if !a.last.called || a.last.assertion != valid && !strings.HasSuffix(tt.header[0], a.last.assertion) ||
					a.last.claims["preferred_username"] != aliceName {
					t.Errorf("the handler saw %+v", a.last)
				}
				return
			}
			if a.last.called {
				t.Error("the handler was called")
			}
			if !strings.HasPrefix(ch, `Bearer realm=""`) {
				t.Errorf("WWW-Authenticate: %s", ch)
			}
			if tt.code == "" && strings.Contains(ch, "error") {
				t.Errorf("WWW-Authenticate %s has an error", ch)
			}
			if tt.code != "" && (!strings.Contains(ch, `error="`+tt.code+`"`) || !strings.Contains(ch, tt.description)) {
				t.Errorf("WWW-Authenticate %s, want error %s and a description with %q", ch, tt.code, tt.description)
			}
			for _, h := range tt.header {
				if tok := strings.TrimSpace(strings.TrimPrefix(h, "Bearer")); len(tok) > 12 && strings.Contains(ch+w.Body.String(), tok) {
					t.Error("the answer echoes the token")
				}
			}
		})
	}
	t.Run("client_id_audience_by_default", func(t *testing.T) {
		def := newAPI(t, m, nil)
		for aud, status := range map[string]int{middleID: 200, "api://" + middleID: 200, middleAPI: 401} {
			if w := def.call("Bearer " + issue(authtest.AccessTokenSpec{Audience: aud})); w.Code != status {
				t.Errorf("aud %s: %d, want %d", aud, w.Code, status)
			}
		}
	})
	if n := m.srv.CountRequests(authtest.EndpointKeys); n != 2 {
		t.Errorf("the keys were read %d times, want once per application", n)
	}
	if n := m.srv.CountRequests(authtest.EndpointOpenIDConfiguration); n != 2 {
		t.Errorf("the discovery document was read %d times, want once per application", n)
	}
}

// TestMiddlewareKeys checks that an unknown kid makes the keys be read
// again at most once a minute on the application's clock, and that a
// rotated key is picked up.
func TestMiddlewareKeys(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	a := newAPI(t, m, nil, WithAudiences(middleAPI))
	token := func() string {
		return m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Subject: aliceName, Scopes: []string{"access"}})
	}
	keyReads := func() int { return m.srv.CountRequests(authtest.EndpointKeys) }
	before := token()
	if w := a.call("Bearer " + before); w.Code != 200 || keyReads() != 1 {
		t.Fatalf("status %d, %d key reads", w.Code, keyReads())
	}
	unknown := forge(before, `{"alg":"RS256","kid":"no-such-key","typ":"JWT"}`, strings.Split(before, ".")[2])
	for i, want := range []int{1, 1} {
		if w := a.call("Bearer " + unknown); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "signing key") {
			t.Fatalf("unknown kid %d: %d %s", i, w.Code, w.Header().Get("WWW-Authenticate"))
		}
		if keyReads() != want {
			t.Errorf("unknown kid %d: %d key reads, want %d (a minute has not passed)", i, keyReads(), want)
		}
	}
	m.srv.Advance(time.Minute)
	for i, want := range []int{2, 2} {
		a.call("Bearer " + unknown)
		if keyReads() != want {
			t.Errorf("a minute later, unknown kid %d: %d key reads, want %d", i, keyReads(), want)
		}
	}

	// A rotated key is read when a token names it.
	m.srv.RotateKeys()
	m.srv.Advance(time.Minute)
	after := token()
	if kidOf(t, after) == kidOf(t, before) {
		t.Fatal("RotateKeys did not change the kid")
	}
	if w := a.call("Bearer " + after); w.Code != 200 || keyReads() != 3 {
		t.Errorf("a token of the new key: %d, %d key reads", w.Code, keyReads())
	}
	if w := a.call("Bearer " + before); w.Code != 200 || keyReads() != 3 {
		t.Errorf("a token of the previous key (still published): %d, %d key reads", w.Code, keyReads())
	}
	// Keys a day old are read again, in the background: the kept ones
	// serve meanwhile.
	m.srv.Advance(jwksTTL)
	if w := a.call("Bearer " + token()); w.Code != 200 {
		t.Errorf("after a day: %d", w.Code)
	}
	a.app.keys.settle()
	if keyReads() != 4 {
		t.Errorf("after a day: %d key reads, want 4", keyReads())
	}
}

func TestMiddlewareTenants(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	m.srv.AddUser(authtest.User{Username: "carol@fabrikam.com", TenantID: "11111111-2222-3333-4444-555555555555"})
	tok := func(user string) string {
		return m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Subject: user, Scopes: []string{"access"}})
	}
	common := []Option{WithAuthority(m.srv.Authority("organizations"))}
	anyTenant := newAPI(t, m, common, WithAudiences(middleAPI))
	for _, u := range []string{aliceName, "carol@fabrikam.com"} {
		if w := anyTenant.call("Bearer " + tok(u)); w.Code != 200 {
			t.Errorf("multi-tenant, %s: %d %s", u, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	only := newAPI(t, m, common, WithAudiences(middleAPI), WithAllowedTenants(authtest.DefaultTenant))
	if w := only.call("Bearer " + tok(aliceName)); w.Code != 200 {
		t.Errorf("allowed tenant: %d", w.Code)
	}
	// The multi-tenant issuer's {tenantid} may not stand for another
	// tenant.
	if w := only.call("Bearer " + tok("carol@fabrikam.com")); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "issuer") {
		t.Errorf("another tenant: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// A tenant-specific authority takes its own tenant's tokens only.
	single := newAPI(t, m, nil, WithAudiences(middleAPI))
	if w := single.call("Bearer " + tok("carol@fabrikam.com")); w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "issuer") {
		t.Errorf("single tenant, another tenant's token: %d", w.Code)
	}
	// Extra issuers, such as Entra's v1.0 one.
	v1 := m.srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Subject: aliceName, Scopes: []string{"access"},
		Claims: map[string]any{"iss": "https://sts.windows.net/" + authtest.DefaultTenant + "/", "ver": "1.0"}})
	if w := single.call("Bearer " + v1); w.Code != 401 {
		t.Errorf("a v1.0 issuer without WithIssuers: %d", w.Code)
	}
	withV1 := newAPI(t, m, nil, WithAudiences(middleAPI), WithIssuers("https://sts.windows.net/{tenantid}/"))
	if w := withV1.call("Bearer " + v1); w.Code != 200 {
		t.Errorf("a v1.0 issuer with WithIssuers: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestMiddlewareWithoutValidation(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	a := newAPI(t, m, nil, WithoutTokenValidation())
	if w := a.call("Bearer opaque-token"); w.Code != 200 || a.last.assertion != "opaque-token" || a.last.claims != nil {
		t.Errorf("%d %+v", w.Code, a.last)
	}
	if w := a.call(); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
	if n := len(m.srv.Requests()); n != 0 {
		t.Errorf("%d requests to the authority", n)
	}
}

func TestMiddlewareKeysUnavailable(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	var sl sleeps
	a := newAPI(t, m, []Option{WithRetryPolicy(RetryPolicy{Sleep: sl.sleep})}, WithAudiences(middleAPI))
	m.srv.InjectFaults(3, authtest.Fault{Endpoint: authtest.EndpointKeys, Status: 503})
	tok := m.assertion(aliceName)
	if w := a.call("Bearer " + tok); w.Code != 503 || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("keys unavailable: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	reads := m.srv.CountRequests(authtest.EndpointKeys)
	if w := a.call("Bearer " + tok); w.Code != 503 || m.srv.CountRequests(authtest.EndpointKeys) != reads {
		t.Errorf("right after a failed read: %d, %d more reads", w.Code, m.srv.CountRequests(authtest.EndpointKeys)-reads)
	}
	if w := sl.got(); len(w) != 2 {
		t.Errorf("waits between attempts %v, want two", w)
	}
	m.srv.Advance(jwksRetryAfterFailure)
	if w := a.call("Bearer " + tok); w.Code != 200 {
		t.Errorf("once the keys can be read: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// TestLateKeyReadTakesTheEndedOne checks the race of concurrent first
// requests: a caller that found no keys, and whose read starts only after
// another caller's read has ended, takes that read's outcome (the keys,
// or the failure) rather than reading the keys again within the minute.
// The late caller's read is started directly, with the count of reads it
// saw.
func TestLateKeyReadTakesTheEndedOne(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		m := newMiddleTier(t, authtest.Client{})
		a := newAPI(t, m, nil, WithAudiences(middleAPI))
		tok := m.assertion(aliceName)
		if w := a.call("Bearer " + tok); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		k := &a.app.keys
		set, err := k.fetch(bg(), k.url, 0)
		if _, ok := rsaKey(set, kidOf(t, tok)); err != nil || !ok {
			t.Errorf("late read: key found %v, %v", ok, err)
		}
		if n := m.srv.CountRequests(authtest.EndpointKeys); n != 1 {
			t.Errorf("%d key reads, want 1", n)
		}
	})
	t.Run("failed", func(t *testing.T) {
		m := newMiddleTier(t, authtest.Client{})
		var sl sleeps
		a := newAPI(t, m, []Option{WithRetryPolicy(RetryPolicy{Sleep: sl.sleep})}, WithAudiences(middleAPI))
		m.srv.InjectFaults(3, authtest.Fault{Endpoint: authtest.EndpointKeys, Status: 503})
		if w := a.call("Bearer " + m.assertion(aliceName)); w.Code != 503 {
			t.Fatalf("status %d", w.Code)
		}
		reads := m.srv.CountRequests(authtest.EndpointKeys)
		k := &a.app.keys
		if _, err := k.fetch(bg(), k.url, 0); !errors.Is(err, errKeysUnavailable) {
			t.Errorf("late read: %v, want the failed read's error", err)
		}
		if n := m.srv.CountRequests(authtest.EndpointKeys); n != reads {
			t.Errorf("%d more key reads, want none", n-reads)
		}
	})
}

// TestMiddlewareKeysReadOnceUnderConcurrency sends concurrent first
// requests, without a gate: however they interleave with the one read of
// the keys, no second read may start within the minute.
func TestMiddlewareKeysReadOnceUnderConcurrency(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), WithAudiences(middleAPI))
	tok := m.assertion(aliceName)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			<-start
			r := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("status %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	close(start)
	wg.Wait()
	if n := m.srv.CountRequests(authtest.EndpointKeys); n != 1 {
		t.Errorf("%d key reads, want 1", n)
	}
}

// TestMiddlewareOnBehalfOf is the middle tier: the middleware validates
// the caller's token, and the handler calls Graph on the caller's behalf
// through bearer.Transport and OnBehalfOfSource.
func TestMiddlewareOnBehalfOf(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	app := m.app(t)
	graph := &http.Client{Transport: &bearer.Transport{Source: app.OnBehalfOfSource(), Scopes: []string{"User.Read"}, Base: m.srv.Transport()}}
	h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
		resp, err := graph.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}), WithAudiences(middleAPI))
	for _, user := range []string{aliceName, bobName} {
		r := httptest.NewRequest(http.MethodGet, "/me", nil)
		r.Header.Set("Authorization", "Bearer "+m.assertion(user))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"userPrincipalName":"`+user+`"`) {
			t.Errorf("%s: %d %s", user, w.Code, w.Body)
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name           string
		values         []string
		token, problem string
	}{
		{"none", nil, "", ""},
		{"bearer", []string{"Bearer abc.def-ghi_jkl~+/=="}, "abc.def-ghi_jkl~+/==", ""},
		{"case_and_spaces", []string{"  bEaReR   abc  "}, "abc", ""},
		{"basic", []string{"Basic abc"}, "", ""},
		{"dpop", []string{"DPoP abc"}, "", ""},
		{"bearer_glued", []string{"Bearerabc"}, "", ""},
		{"empty_value", []string{""}, "", ""},
		{"no_token", []string{"Bearer"}, "", "no bearer token"},
		{"padding_inside", []string{"Bearer ab=c"}, "", "characters"},
		{"only_padding", []string{"Bearer =="}, "", "characters"},
		{"comma", []string{"Bearer a,b"}, "", "characters"},
		{"tab_inside", []string{"Bearer a\tb"}, "", "characters"},
		{"non_ascii", []string{"Bearer tök"}, "", "characters"},
		{"two", []string{"Bearer a", "Bearer b"}, "", "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Authorization", v)
			}
			token, problem := bearerToken(h)
			if token != tt.token || !strings.Contains(problem, tt.problem) || (tt.problem == "") != (problem == "") {
				t.Errorf("bearerToken = %q, %q; want %q, %q", token, problem, tt.token, tt.problem)
			}
		})
	}
}

func TestSafeDescription(t *testing.T) {
	if got := safeDescription("a \"quoted\" \\ line\r\nbreak é"); got != "a quoted  linebreak " {
		t.Errorf("safeDescription = %q", got)
	}
}

// FuzzMiddlewareAuthorization serves requests with arbitrary
// Authorization values: the middleware never panics, lets through only
// the one valid token, answers with an RFC 6750 challenge that is a
// well-formed header value, and never echoes the token.
func FuzzMiddlewareAuthorization(f *testing.F) {
	srv := authtest.NewTLSServer(f)
	srv.SetNow(t0)
	srv.AddUser(authtest.User{Username: aliceName})
	srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
	app, err := NewConfidential(middleID, credential.Secret(middleSecret), WithAuthority(srv.Authority("contoso.com")),
		WithHTTPClient(srv.Client()), WithClock(srv.Now))
	if err != nil {
		f.Fatal(err)
	}
	valid := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Subject: aliceName, Scopes: []string{"access"}})
	parts := strings.Split(valid, ".")
	h := app.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, _ := UserAssertionFromContext(r.Context()); a != valid {
			panic("a token other than the valid one got through")
		}
	}), WithAudiences(middleAPI))
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer " + valid, "bearer  " + valid + " ", "Basic dXNlcjpwYXNz", "Bearer a.b.c",
		"Bearer " + parts[0] + "." + parts[1] + ".", "Bearer " + parts[0] + ".." + parts[2],
		"Bearer " + forge(valid, `{"alg":"none"}`, ""), "Bearer " + forge(valid, `{"alg":"RS256","kid":"x"}`, parts[2]),
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AAAA", "Bearer \"x\"", "Bearer x\r\nSet-Cookie: a=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = []string{v}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case 200, 400, 401, 503:
		default:
			t.Fatalf("status %d", w.Code)
		}
		ch := w.Header().Get("WWW-Authenticate")
		if w.Code == 200 {
			if ch != "" {
				t.Fatal("a challenge with 200")
			}
			return
		}
		if w.Code != 503 && !strings.HasPrefix(ch, `Bearer realm=""`) {
			t.Fatalf("WWW-Authenticate %q", ch)
		}
		if strings.ContainsAny(ch, "\r\n\\") || strings.Count(ch, `"`)%2 != 0 {
			t.Fatalf("malformed WWW-Authenticate %q", ch)
		}
		_, tok, _ := strings.Cut(strings.TrimSpace(v), " ")
		if tok = strings.TrimSpace(tok); len(tok) >= 16 && strings.Contains(ch+w.Body.String(), tok) {
			t.Fatalf("the answer echoes the token")
		}
	})
}

// BenchmarkMiddlewareValidToken is what validating a caller's token costs
// a web API once the keys are read: the RS256 signature and the claims.
func BenchmarkMiddlewareValidToken(b *testing.B) {
	srv := authtest.NewTLSServer(b)
	srv.AddUser(authtest.User{Username: aliceName})
	srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
	app := mustConfidential(b, middleID, credential.Secret(middleSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
	h := app.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), WithAudiences(middleAPI))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Subject: aliceName, Scopes: []string{"access"}}))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// TestMiddlewareADFS checks that a web API behind AD FS accepts the access
// tokens AD FS issues, whose iss is the access_token_issuer of its
// discovery document (http://{host}/adfs/services/trust), not its OpenID
// issuer, and still refuses any other issuer.
func TestMiddlewareADFS(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: "caller", Secret: "caller-s3cret"})
	srv.AddClient(authtest.Client{ID: middleID, Secret: middleSecret})
	srv.AddAPI(authtest.API{Audience: middleAPI, AppID: middleID, Scopes: []string{"access"}})
	caller := mustConfidential(t, "caller", credential.Secret("caller-s3cret"), WithAuthority(srv.ADFSAuthority()), WithHTTPClient(srv.Client()))
	r, err := caller.AcquireTokenForClient(bg(), []string{middleAPI + "/.default"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.Verify(r.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if iss, _ := claims["iss"].(string); !strings.HasSuffix(iss, "/adfs/services/trust") {
		t.Fatalf("the AD FS access token's iss is %q, want its access_token_issuer", iss)
	}
	mt := mustConfidential(t, middleID, credential.Secret(middleSecret), WithAuthority(srv.ADFSAuthority()), WithHTTPClient(srv.Client()))
	h := mt.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), WithAudiences(middleAPI))
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "https://api.contoso.example/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := call(r.AccessToken); w.Code != http.StatusOK {
		t.Errorf("an AD FS access token: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	forged := srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: middleAPI, Claims: map[string]any{"iss": "http://evil.example/adfs/services/trust"}})
	if w := call(forged); w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "issuer") {
		t.Errorf("a token of another issuer: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}
