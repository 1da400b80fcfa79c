package authtest_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAuthorityShapes gets user tokens through every authority shape and
// checks them against the shape's own discovery document, as a client
// validating ID tokens would.
func TestAuthorityShapes(t *testing.T) {
	srv := newServer(t)
	b2c := srv.B2CAuthority("contosob2c.onmicrosoft.com", "B2C_1_ropc")
	tests := []struct {
		name      string
		discovery string
		hasTID    bool
		basic     bool
	}{
		{"entra", srv.Authority(contosoTID) + "/v2.0/.well-known/openid-configuration", true, false},
		{"entra_organizations", srv.Authority("organizations") + "/v2.0/.well-known/openid-configuration", true, false},
		{"b2c", b2c + "/v2.0/.well-known/openid-configuration", true, false},
		{"b2c_tfp", srv.URL + "/tfp/contosob2c.onmicrosoft.com/B2C_1_ropc/v2.0/.well-known/openid-configuration", true, false},
		{"adfs", srv.ADFSAuthority() + "/.well-known/openid-configuration", false, false},
		{"oidc", srv.OIDCIssuer() + "/.well-known/openid-configuration", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := get(t, srv, tt.discovery)
			f := form("grant_type", "password", "client_id", appID, "username", aliceName, "password", alicePass, "scope", apiAud+"/Orders.Read openid offline_access")
			if !tt.basic {
				f.Set("client_secret", appSecret)
			}
			req, _ := http.NewRequest(http.MethodPost, doc.str("token_endpoint"), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic {
				req.SetBasicAuth(appID, appSecret)
			}
			r := do(t, srv.Client(), req)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			id := claims(t, r.str("id_token"))
			iss := doc.str("issuer")
			if tid, ok := id["tid"].(string); ok {
				iss = strings.Replace(iss, "{tenantid}", tid, 1)
			}
			if id["iss"] != iss {
				t.Errorf("id token iss %v, discovery issuer %s", id["iss"], iss)
			}
			// Access tokens carry the same issuer, but ADFS's, which carry
			// the access_token_issuer its document publishes, as ADFS does.
			wantAT := iss
			if ati := doc.str("access_token_issuer"); ati != "" {
				wantAT = ati
			}
			if at := claims(t, r.str("access_token")); at["iss"] != wantAT {
				t.Errorf("access token iss %v, want %s", at["iss"], wantAT)
			}
			if _, ok := id["tid"]; ok != tt.hasTID {
				t.Errorf("tid present = %v, want %v", ok, tt.hasTID)
			}
			// The token's key is in the shape's JWKS.
			keys := get(t, srv, doc.str("jwks_uri"))
			if !strings.Contains(keys.raw, jwtHeader(t, r.str("id_token"))["kid"].(string)) {
				t.Errorf("the ID token's key is not in %s", doc.str("jwks_uri"))
			}
		})
	}
	t.Run("b2c_token_names_the_policy", func(t *testing.T) {
		r := post(t, srv, b2c+"/oauth2/v2.0/token", form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", alicePass, "scope", apiAud+"/Orders.Read"))
		if c := claims(t, r.str("access_token")); c["tfp"] != "B2C_1_ropc" || c["tid"] != srv.TenantID("contosob2c.onmicrosoft.com") {
			t.Errorf("claims = %v", c)
		}
	})
	t.Run("adfs_errors_keep_entra_shape", func(t *testing.T) {
		r := post(t, srv, srv.ADFSAuthority()+"/oauth2/token", form("grant_type", "password", "client_id", publicID, "username", aliceName, "password", "x", "scope", "openid"))
		r.wantError(t, 400, "invalid_grant", 50126)
	})
	t.Run("oidc_device_code", func(t *testing.T) {
		r := post(t, srv, srv.OIDCIssuer()+"/device", form("client_id", publicID, "scope", "openid "+apiAud+"/Orders.Read"))
		if r.status != 200 || !strings.Contains(r.str("verification_uri_complete"), r.str("user_code")) {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if err := srv.ApproveDeviceCode(r.str("user_code"), aliceName); err != nil {
			t.Fatal(err)
		}
		tok := post(t, srv, srv.OIDCIssuer()+"/token", form("grant_type", "urn:ietf:params:oauth:grant-type:device_code", "client_id", publicID, "device_code", r.str("device_code")))
		if tok.status != 200 {
			t.Fatalf("%d %s", tok.status, tok.raw)
		}
		if c := claims(t, tok.str("id_token")); c["iss"] != srv.OIDCIssuer() {
			t.Errorf("iss = %v", c["iss"])
		}
	})
}
