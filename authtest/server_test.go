package authtest_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

// recordingTB records what the server does with its testing.TB.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	lines    []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

func TestNewServerWithTB(t *testing.T) {
	tb := &recordingTB{TB: t}
	srv := authtest.NewServer(tb)
	register(srv)
	post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "client_credentials", "client_id", appID, "client_secret", "WRONG-zz1", "scope", "https://graph.microsoft.com/.default"))
	if len(tb.cleanups) != 1 {
		t.Fatalf("%d cleanups registered, want 1 (Close)", len(tb.cleanups))
	}
	tb.mu.Lock()
	logged := strings.Join(tb.lines, "\n")
	tb.mu.Unlock()
	if !strings.Contains(logged, "AADSTS7000215") || strings.Contains(logged, "WRONG-zz1") {
		t.Errorf("logged %q: want the error code, not the secret", logged)
	}
	tb.cleanups[0]()
	if _, err := srv.Client().Get(srv.URL + "/common/v2.0/.well-known/openid-configuration"); err == nil {
		t.Errorf("the server still answers after its cleanup")
	}
}

func TestNewServerWithoutTB(t *testing.T) {
	srv := authtest.NewServer(nil)
	resp, err := srv.Client().Get(srv.URL + "/common/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	srv.Close() // a second Close is harmless
	if _, err := srv.Client().Get(srv.URL + "/common/v2.0/.well-known/openid-configuration"); err == nil {
		t.Errorf("the server still answers after Close")
	}
}

func TestStart(t *testing.T) {
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Errorf("URL = %s", srv.URL)
	}
	if _, err := authtest.Start(authtest.WithAddr("256.0.0.1:1")); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

func TestWithRequestLimit(t *testing.T) {
	srv := newServer(t, authtest.WithRequestLimit(3))
	for i := range 10 {
		get(t, srv, srv.Authority(fmt.Sprint("t", i))+"/v2.0/.well-known/openid-configuration")
	}
	reqs := srv.Requests()
	if len(reqs) != 3 || reqs[0].Tenant != "t7" || reqs[2].Tenant != "t9" {
		t.Errorf("kept %d records: %v", len(reqs), reqs)
	}
}

func TestWithAddr(t *testing.T) {
	srv := authtest.NewServer(t, authtest.WithAddr("127.0.0.1:0"))
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %s", srv.URL)
	}
}

func TestRegistrationPanics(t *testing.T) {
	srv := authtest.NewServer(t)
	for name, f := range map[string]func(){
		"client": func() { srv.AddClient(authtest.Client{}) },
		"user":   func() { srv.AddUser(authtest.User{}) },
		"api":    func() { srv.AddAPI(authtest.API{}) },
		"mi":     func() { srv.AddManagedIdentity(authtest.ManagedIdentity{}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic for a registration without its ID")
				}
			}()
			f()
		})
	}
}

func TestWithoutDefaultAPIs(t *testing.T) {
	srv := authtest.NewServer(t, authtest.WithoutDefaultAPIs())
	srv.AddClient(authtest.Client{ID: appID, Secret: appSecret})
	post(t, srv, tokenURL(srv, contosoTID), ccForm()).wantError(t, 400, "invalid_resource", 500011)
}

func TestIssueAccessToken(t *testing.T) {
	srv := newServer(t)
	t.Run("defaults", func(t *testing.T) {
		c := claims(t, srv.IssueAccessToken(authtest.AccessTokenSpec{}))
		if c["aud"] != authtest.GraphAudience || c["idtyp"] != "app" || c["tid"] != authtest.DefaultTenant || c["appid"] != "authtest-client" {
			t.Errorf("claims = %v", c)
		}
		if c["exp"].(float64)-c["iat"].(float64) != 3600 {
			t.Errorf("lifetime %v", c["exp"].(float64)-c["iat"].(float64))
		}
	})
	t.Run("user_token", func(t *testing.T) {
		c := claims(t, srv.IssueAccessToken(authtest.AccessTokenSpec{
			Audience: apiAud, Subject: aliceName, Scopes: []string{"Orders.Read"}, ACRS: []string{"c1"},
			Capabilities: []string{"cp1"}, ACR: "urn:gold", Claims: map[string]any{"extra": "x"},
		}))
		if c["scp"] != "Orders.Read" || c["tid"] != contosoTID || c["preferred_username"] != aliceName || c["acr"] != "urn:gold" ||
			toStrings(c["acrs"])[0] != "c1" || toStrings(c["xms_cc"])[0] != "cp1" || c["extra"] != "x" || c["iss"] != srv.Issuer(contosoTID) {
			t.Errorf("claims = %v", c)
		}
	})
	t.Run("unregistered_subject", func(t *testing.T) {
		c := claims(t, srv.IssueAccessToken(authtest.AccessTokenSpec{Subject: "8c8c8c8c-0000-4000-8000-000000000000", Tenant: "fabrikam.com"}))
		if c["oid"] != "8c8c8c8c-0000-4000-8000-000000000000" || c["tid"] != srv.TenantID("fabrikam.com") {
			t.Errorf("claims = %v", c)
		}
	})
	t.Run("verify_errors", func(t *testing.T) {
		if _, err := srv.Verify("x.y"); !errors.Is(err, authtest.ErrTokenMalformed) {
			t.Errorf("malformed: %v", err)
		}
		old := srv.IssueAccessToken(authtest.AccessTokenSpec{IssuedAt: srv.Now().Add(-2 * time.Hour)})
		if _, err := srv.Verify(old); !errors.Is(err, authtest.ErrTokenExpired) {
			t.Errorf("expired: %v", err)
		}
		future := srv.IssueAccessToken(authtest.AccessTokenSpec{IssuedAt: srv.Now().Add(time.Hour)})
		if _, err := srv.Verify(future); !errors.Is(err, authtest.ErrTokenExpired) {
			t.Errorf("not yet valid: %v", err)
		}
		good := srv.IssueAccessToken(authtest.AccessTokenSpec{})
		if _, err := srv.Verify(good[:len(good)-3] + "AAA"); !errors.Is(err, authtest.ErrTokenSignature) {
			t.Errorf("bad signature: %v", err)
		}
	})
}
