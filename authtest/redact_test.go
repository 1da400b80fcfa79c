package authtest_test

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

func TestSecretsNotPrinted(t *testing.T) {
	c := authtest.Client{ID: "app", Secret: "TOP-SECRET-1"}
	u := authtest.User{Username: "u@x.com", Password: "TOP-SECRET-2"}
	req := authtest.Request{Method: "POST", Path: "/t/oauth2/v2.0/token", Endpoint: "token", GrantType: "password",
		Form: form("client_secret", "TOP-SECRET-3", "password", "TOP-SECRET-4", "refresh_token", "TOP-SECRET-5",
			"client_assertion", "TOP-SECRET-6", "code", "TOP-SECRET-7", "code_verifier", "TOP-SECRET-8", "device_code", "TOP-SECRET-9", "assertion", "TOP-SECRET-A", "username", "u@x.com"),
		Header: map[string][]string{"Authorization": {"Basic TOP-SECRET-B"}}}
	for _, v := range []any{c, &c, u, &u, req, &req, []authtest.Client{c}, map[string]authtest.User{"u": u}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "TOP-SECRET") {
				t.Errorf("fmt %s of %T shows a secret: %s", verb, v, out)
			}
		}
	}
	if s := req.String(); !strings.Contains(s, "username=u@x.com") || !strings.Contains(s, "grant_type=password") {
		t.Errorf("Request.String hides too much: %s", s)
	}
	if s := c.String(); !strings.Contains(s, `"app"`) {
		t.Errorf("Client.String = %s", s)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNotLoggedOrEchoed drives failing requests that carry secrets
// and checks that neither the server's log nor its error responses
// repeat them.
func TestSecretsNotLoggedOrEchoed(t *testing.T) {
	var logs syncBuffer
	srv := newServer(t, authtest.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	key := testRSAKey(t)
	cert := selfSigned(t, key)
	srv.AddClient(authtest.Client{ID: certClientID, Certificates: []*x509.Certificate{cert}})

	good := passwordToken(t, srv, publicID, "User.Read offline_access")
	secrets := []string{appSecret, alicePass, bobPass, good.str("refresh_token"), good.str("access_token"),
		"WRONG-SECRET-zz9", "WRONG-PASSWORD-zz8", "BOGUS-REFRESH-zz7", "BOGUS-CODE-zz6", "BOGUS-DEVICE-zz5", "VERIFIER-zz4"}
	var bodies []string
	send := func(tenant string, kv ...string) {
		r := post(t, srv, tokenURL(srv, tenant), form(kv...))
		if r.status == 200 {
			t.Fatalf("request %v succeeded", kv[:2])
		}
		bodies = append(bodies, r.raw)
	}
	send(contosoTID, "grant_type", "client_credentials", "client_id", appID, "client_secret", "WRONG-SECRET-zz9", "scope", "https://graph.microsoft.com/.default")
	send(contosoTID, "grant_type", "password", "client_id", publicID, "username", aliceName, "password", "WRONG-PASSWORD-zz8", "scope", "User.Read")
	send(contosoTID, "grant_type", "password", "client_id", publicID, "username", bobName, "password", bobPass, "scope", "User.Read")
	send(contosoTID, "grant_type", "refresh_token", "client_id", publicID, "refresh_token", "BOGUS-REFRESH-zz7", "scope", "User.Read")
	send(contosoTID, "grant_type", "refresh_token", "client_id", appID, "client_secret", appSecret, "refresh_token", good.str("refresh_token"), "scope", "User.Read")
	send(contosoTID, "grant_type", "authorization_code", "client_id", publicID, "code", "BOGUS-CODE-zz6", "redirect_uri", "http://localhost/", "scope", "User.Read", "code_verifier", "VERIFIER-zz4")
	send(contosoTID, "grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", publicID, "device_code", "BOGUS-DEVICE-zz5")
	send(contosoTID, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer", "client_id", appID, "client_secret", appSecret, "requested_token_use", "on_behalf_of", "assertion", good.str("access_token"), "scope", "User.Read")
	send(contosoTID, "grant_type", "client_credentials", "client_id", appID, "client_secret", appSecret, "scope", "https://graph.microsoft.com/User.Read")
	assertion := signJWS(t, key, "PS256", map[string]any{"x5t#S256": x5tS256(cert)}, assertionClaims(certClientID, "https://wrong.example/token", srv.Now()))
	secrets = append(secrets, assertion)
	send(contosoTID, assertionForm(certClientID, assertion)...)
	send(contosoTID, assertionForm(certClientID, strings.Replace(assertion, ".", ".x", 1))...)
	// The resource, with a token it must refuse.
	callResource(t, srv, "GET", srv.URL+"/v1.0/users", good.str("access_token"), "")
	callResource(t, srv, "GET", srv.URL+"/v1.0/me", good.str("access_token")+"x", "")

	out := logs.String()
	if !strings.Contains(out, "AADSTS7000215") || !strings.Contains(out, "AADSTS50126") {
		t.Fatalf("the log does not report the errors:\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a secret (%.12s...)", s)
		}
		for _, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("an error response holds a secret (%.12s...): %s", s, b)
			}
		}
	}
	// Printing the records shows no secret either.
	for _, r := range srv.Requests() {
		if s := containsAny(fmt.Sprintf("%+v", r), secrets...); s != "" {
			t.Errorf("record prints a secret (%.12s...)", s)
		}
	}
}
