package authtest_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func startDeviceCode(t *testing.T, srv *authtest.Server, tenant string) response {
	t.Helper()
	r := post(t, srv, srv.Authority(tenant)+"/oauth2/v2.0/devicecode", form("client_id", publicID, "scope", "User.Read openid offline_access"))
	if r.status != 200 {
		t.Fatalf("devicecode: %d %s", r.status, r.raw)
	}
	return r
}

func poll(t *testing.T, srv *authtest.Server, tenant, deviceCode string) response {
	t.Helper()
	return post(t, srv, tokenURL(srv, tenant), form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", publicID, "device_code", deviceCode))
}

func TestDeviceCodeFlow(t *testing.T) {
	srv := newServer(t)
	dc := startDeviceCode(t, srv, "organizations")
	if dc.num("expires_in") != 900 || dc.num("interval") != 5 || len(dc.str("user_code")) != 9 ||
		!strings.HasSuffix(dc.str("verification_uri"), "/devicelogin") ||
		!strings.Contains(dc.str("message"), dc.str("user_code")) {
		t.Fatalf("device authorization response = %s", dc.raw)
	}
	poll(t, srv, "organizations", dc.str("device_code")).wantError(t, 400, "authorization_pending", 70016)
	if err := srv.ApproveDeviceCode(dc.str("user_code"), aliceName); err != nil {
		t.Fatal(err)
	}
	r := poll(t, srv, "organizations", dc.str("device_code"))
	if r.status != 200 || r.str("refresh_token") == "" || r.str("id_token") == "" {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if c := claims(t, r.str("access_token")); c["preferred_username"] != aliceName || c["tid"] != contosoTID {
		t.Errorf("claims = %v", c)
	}
	poll(t, srv, "organizations", dc.str("device_code")).wantError(t, 400, "invalid_grant", 54005)
	if err := srv.ApproveDeviceCode(dc.str("user_code"), aliceName); !errors.Is(err, authtest.ErrDeviceCodeDone) {
		t.Errorf("second approval: %v, want ErrDeviceCodeDone", err)
	}
}

func TestDeviceCodeErrors(t *testing.T) {
	srv := newServer(t)
	t.Run("declined", func(t *testing.T) {
		dc := startDeviceCode(t, srv, contosoTID)
		if err := srv.DeclineDeviceCode(dc.str("user_code")); err != nil {
			t.Fatal(err)
		}
		poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "authorization_declined", 65004)
	})
	t.Run("user_declines_consent", func(t *testing.T) {
		srv.AddUser(authtest.User{Username: "dan@contoso.com", TenantID: contosoTID, DeclineConsent: true})
		dc := startDeviceCode(t, srv, contosoTID)
		if err := srv.ApproveDeviceCode(dc.str("user_code"), "dan@contoso.com"); err != nil {
			t.Fatal(err)
		}
		poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "authorization_declined", 65004)
	})
	t.Run("expired", func(t *testing.T) {
		dc := startDeviceCode(t, srv, contosoTID)
		srv.Advance(16 * time.Minute)
		poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "expired_token", 70019)
		if err := srv.ApproveDeviceCode(dc.str("user_code"), aliceName); !errors.Is(err, authtest.ErrDeviceCodeExpired) {
			t.Errorf("approve after expiry: %v", err)
		}
	})
	t.Run("unknown_device_code", func(t *testing.T) {
		poll(t, srv, contosoTID, "nope").wantError(t, 400, "bad_verification_code", 70018)
	})
	t.Run("missing_device_code", func(t *testing.T) {
		poll(t, srv, contosoTID, "").wantError(t, 400, "invalid_request", 900144)
	})
	t.Run("other_client_polls", func(t *testing.T) {
		dc := startDeviceCode(t, srv, contosoTID)
		srv.AddClient(authtest.Client{ID: "other-public", Public: true})
		r := post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", "other-public", "device_code", dc.str("device_code")))
		r.wantError(t, 400, "invalid_grant", 70000)
	})
	t.Run("approve_errors", func(t *testing.T) {
		if err := srv.ApproveDeviceCode("ZZZZZZZZZ", aliceName); !errors.Is(err, authtest.ErrUnknownUserCode) {
			t.Errorf("unknown code: %v", err)
		}
		dc := startDeviceCode(t, srv, contosoTID)
		if err := srv.ApproveDeviceCode(dc.str("user_code"), "nobody@contoso.com"); !errors.Is(err, authtest.ErrUnknownUser) {
			t.Errorf("unknown user: %v", err)
		}
	})
	t.Run("devicecode_endpoint_errors", func(t *testing.T) {
		u := srv.Authority(contosoTID) + "/oauth2/v2.0/devicecode"
		post(t, srv, u, form("scope", "User.Read")).wantError(t, 400, "invalid_request", 900144)
		post(t, srv, u, form("client_id", publicID)).wantError(t, 400, "invalid_request", 900144)
		post(t, srv, u, form("client_id", "nobody", "scope", "User.Read")).wantError(t, 400, "unauthorized_client", 700016)
		post(t, srv, u, form("client_id", publicID, "scope", "Nope.Nope")).wantError(t, 400, "invalid_scope", 70011)
		get(t, srv, u).wantError(t, 400, "invalid_request", 900561)
	})
}

func TestDeviceCodeSlowDown(t *testing.T) {
	srv := newServer(t, authtest.WithDeviceCodeSlowDown())
	srv.SetNow(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	dc := startDeviceCode(t, srv, contosoTID)
	poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "authorization_pending", 70016)
	srv.Advance(time.Second)
	poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "slow_down", 70016)
	// The interval grew to 10 s: 6 s later is still too soon.
	srv.Advance(6 * time.Second)
	poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "slow_down", 70016)
	srv.Advance(16 * time.Second)
	poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "authorization_pending", 70016)
}

func TestDeviceCodeInterval(t *testing.T) {
	srv := newServer(t, authtest.WithDeviceCodeInterval(2*time.Second))
	if dc := startDeviceCode(t, srv, contosoTID); dc.num("interval") != 2 {
		t.Errorf("interval = %v, want 2", dc.num("interval"))
	}
}

func TestDeviceLoginPage(t *testing.T) {
	srv := newServer(t)
	dc := startDeviceCode(t, srv, contosoTID)
	page := get(t, srv, dc.str("verification_uri"))
	if page.status != 200 || !strings.Contains(page.raw, `name="user_code"`) {
		t.Fatalf("%d %s", page.status, page.raw)
	}
	submit := func(f url.Values) response {
		req, _ := http.NewRequest(http.MethodPost, dc.str("verification_uri"), strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, srv.Client(), req)
	}
	if r := submit(form("user_code", dc.str("user_code"), "username", aliceName, "password", "wrong", "action", "approve")); r.status != 400 {
		t.Errorf("wrong password: %d", r.status)
	}
	poll(t, srv, contosoTID, dc.str("device_code")).wantError(t, 400, "authorization_pending", 70016)
	if r := submit(form("user_code", strings.ToLower(dc.str("user_code")), "username", aliceName, "password", alicePass, "action", "approve")); r.status != 200 {
		t.Fatalf("approve: %d %s", r.status, r.raw)
	}
	if r := poll(t, srv, contosoTID, dc.str("device_code")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
}

// TestDeviceCodeShortGrantType: Entra takes grant_type=device_code, which
// MSAL Go sends, as well as RFC 8628's URN; the plain OpenID Connect shape
// takes the URN only.
func TestDeviceCodeShortGrantType(t *testing.T) {
	srv := newServer(t)
	dc := startDeviceCode(t, srv, contosoTID)
	short := func() response {
		return post(t, srv, tokenURL(srv, contosoTID), form("grant_type", "device_code", "client_id", publicID, "device_code", dc.str("device_code")))
	}
	short().wantError(t, 400, "authorization_pending", 70016)
	if err := srv.ApproveDeviceCode(dc.str("user_code"), aliceName); err != nil {
		t.Fatal(err)
	}
	r := short()
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if c := claims(t, r.str("access_token")); c["preferred_username"] != aliceName {
		t.Errorf("claims = %v", c)
	}
	if got := srv.Requests()[len(srv.Requests())-1].GrantType; got != "device_code" {
		t.Errorf("recorded grant type %q, want the one sent", got)
	}

	t.Run("oidc_takes_the_URN_only", func(t *testing.T) {
		d := post(t, srv, srv.OIDCIssuer()+"/device", form("client_id", publicID, "scope", "openid "+apiAud+"/Orders.Read"))
		if d.status != 200 {
			t.Fatalf("%d %s", d.status, d.raw)
		}
		r := post(t, srv, srv.OIDCIssuer()+"/token", form("grant_type", "device_code", "client_id", publicID, "device_code", d.str("device_code")))
		r.wantError(t, 400, "unsupported_grant_type", 0)
		urn := post(t, srv, srv.OIDCIssuer()+"/token", form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", publicID, "device_code", d.str("device_code")))
		urn.wantError(t, 400, "authorization_pending", 0)
	})
}

// A sign-in that asks for OpenID scopes only (no API) gets a Microsoft
// Graph token, as from Entra; authtest panicked on it before.
func TestDeviceCodeWithOpenIDScopesOnly(t *testing.T) {
	srv := newServer(t)
	r := post(t, srv, srv.Authority("organizations")+"/oauth2/v2.0/devicecode", form("client_id", publicID, "scope", "openid offline_access profile"))
	if r.status != 200 {
		t.Fatalf("devicecode: %d %s", r.status, r.raw)
	}
	if err := srv.ApproveDeviceCode(r.str("user_code"), aliceName); err != nil {
		t.Fatal(err)
	}
	tok := poll(t, srv, "organizations", r.str("device_code"))
	if tok.status != 200 || tok.str("access_token") == "" || tok.str("refresh_token") == "" || tok.str("scope") != "openid profile" {
		t.Fatalf("%d %s", tok.status, tok.raw)
	}
	if c := claims(t, tok.str("access_token")); c["aud"] != authtest.GraphAudience {
		t.Errorf("aud = %v, want Graph", c["aud"])
	}
}
