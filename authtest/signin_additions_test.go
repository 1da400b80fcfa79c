package authtest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
)

func TestUserRealmFederatedDomain(t *testing.T) {
	srv := newServer(t)
	srv.AddFederatedDomain("Fabrikam.com")
	r := get(t, srv, srv.URL+"/common/userrealm/"+url.PathEscape("ann@fabrikam.com")+"?api-version=1.0")
	if r.str("account_type") != "Federated" || r.str("federation_protocol") != "WSTrust" ||
		r.str("federation_metadata_url") != "https://adfs.fabrikam.com/adfs/services/trust/mex" || r.str("domain_name") != "fabrikam.com" {
		t.Errorf("federated domain: %s", r.raw)
	}
	if r := get(t, srv, srv.URL+"/common/userrealm/"+aliceName+"?api-version=1.0"); r.str("account_type") != "Managed" || r.str("federation_protocol") != "" {
		t.Errorf("a managed domain changed: %s", r.raw)
	}
}

func TestOIDCLogout(t *testing.T) {
	srv := newServer(t)
	doc := get(t, srv, srv.OIDCIssuer()+"/.well-known/openid-configuration")
	if doc.str("end_session_endpoint") != srv.OIDCIssuer()+"/logout" {
		t.Fatalf("end_session_endpoint = %q", doc.str("end_session_endpoint"))
	}
	if err := srv.SignIn(aliceName); err != nil {
		t.Fatal(err)
	}
	r := get(t, srv, doc.str("end_session_endpoint")+"?post_logout_redirect_uri="+url.QueryEscape("http://localhost/bye"))
	if r.status != http.StatusFound || r.header.Get("Location") != "http://localhost/bye" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	if got := srv.CountRequests(authtest.EndpointLogout); got != 1 {
		t.Errorf("%d requests recorded as logout, want 1", got)
	}
}

func TestIssueIDToken(t *testing.T) {
	srv := newServer(t)
	at := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.SetNow(at)
	tok := srv.IssueIDToken(authtest.IDTokenSpec{Subject: aliceName, ClientID: publicID, Nonce: "n-1", Lifetime: 10 * time.Minute,
		Claims: map[string]any{"extra": "x", "nbf": nil}})
	c, err := srv.Verify(tok)
	if err != nil {
		t.Fatalf("the server does not verify its own ID token: %v", err)
	}
	want := map[string]string{
		"aud": publicID, "iss": srv.Issuer(contosoTID), "tid": contosoTID, "nonce": "n-1",
		"preferred_username": aliceName, "extra": "x",
	}
	for k, v := range want {
		if got, _ := c[k].(string); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := c["nbf"]; ok {
		t.Errorf("nbf is there, the spec removed it")
	}
	if pc := claims(t, tok); pc["exp"].(float64)-pc["iat"].(float64) != 600 || pc["iat"].(float64) != float64(at.Unix()) {
		t.Errorf("lifetime: iat %v exp %v, want 10 minutes apart", c["iat"], c["exp"])
	}
	if claims(t, tok)["auth_time"].(float64) != float64(at.Unix()) {
		t.Errorf("auth_time %v, want iat", claims(t, tok)["auth_time"])
	}
	other := srv.IssueIDToken(authtest.IDTokenSpec{Subject: aliceName, Tenant: "fabrikam.example"})
	oc := claims(t, other)
	if oc["aud"] != "authtest-client" || oc["tid"] != srv.TenantID("fabrikam.example") || oc["iss"] != srv.Issuer(srv.TenantID("fabrikam.example")) {
		t.Errorf("defaults and tenant: %v", oc)
	}
	if _, ok := oc["nonce"]; ok {
		t.Errorf("a nonce without Nonce: %v", oc)
	}
}
