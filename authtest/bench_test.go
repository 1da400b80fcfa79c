package authtest_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

func benchServer(b *testing.B) *authtest.Server {
	srv := authtest.NewServer(b, authtest.WithLogger(slog.New(slog.DiscardHandler)))
	register(srv)
	return srv
}

func serveForm(b *testing.B, srv *authtest.Server, path, body string) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// BenchmarkClientCredentials measures one client-credentials token
// request through ServeHTTP (no network): form parsing, client
// authentication, RS256 signing and recording.
func BenchmarkClientCredentials(b *testing.B) {
	srv := benchServer(b)
	body := ccForm().Encode()
	path := "/" + contosoTID + "/oauth2/v2.0/token"
	for b.Loop() {
		serveForm(b, srv, path, body)
		srv.ResetRequests()
	}
}

// BenchmarkPasswordGrant measures a password grant that returns an access
// token, a refresh token and an ID token (two signatures).
func BenchmarkPasswordGrant(b *testing.B) {
	srv := benchServer(b)
	body := form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", alicePass, "scope", "User.Read openid offline_access").Encode()
	path := "/" + contosoTID + "/oauth2/v2.0/token"
	for b.Loop() {
		serveForm(b, srv, path, body)
		srv.ResetRequests()
	}
}

// BenchmarkResource measures one validated call to /v1.0/me.
func BenchmarkResource(b *testing.B) {
	srv := benchServer(b)
	tok := srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: aliceName, Scopes: []string{"User.Read"}})
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/v1.0/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		srv.ResetRequests()
	}
}

// BenchmarkNewServer measures starting and closing a plain server (the
// signing key comes from the per-process pool).
func BenchmarkNewServer(b *testing.B) {
	for b.Loop() {
		authtest.NewServer(nil).Close()
	}
}

// BenchmarkNewTLSServer measures starting and closing a TLS server,
// certificate authority and server certificate included.
func BenchmarkNewTLSServer(b *testing.B) {
	for b.Loop() {
		authtest.NewTLSServer(nil).Close()
	}
}
