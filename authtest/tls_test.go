package authtest_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

func TestTLSServer(t *testing.T) {
	srv := authtest.NewTLSServer(t, authtest.WithHostNames("adfs.contoso.com"))
	register(srv)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("URL = %s", srv.URL)
	}
	if got := srv.Authority(contosoTID); got != "https://login.microsoftonline.com/"+contosoTID {
		t.Errorf("Authority = %s", got)
	}
	if got := srv.Issuer(contosoTID); got != "https://login.microsoftonline.com/"+contosoTID+"/v2.0" {
		t.Errorf("Issuer = %s", got)
	}
	issuerTests := []struct {
		name, host, issuer string
	}{
		{"public_cloud", "login.microsoftonline.com", "https://login.microsoftonline.com/" + contosoTID + "/v2.0"},
		{"alias", "login.windows.net", "https://login.microsoftonline.com/" + contosoTID + "/v2.0"},
		{"alias_microsoft_com", "login.microsoft.com", "https://login.microsoftonline.com/" + contosoTID + "/v2.0"},
		{"regional", "westus2.login.microsoft.com", "https://login.microsoftonline.com/" + contosoTID + "/v2.0"},
		{"us_government", "login.microsoftonline.us", "https://login.microsoftonline.us/" + contosoTID + "/v2.0"},
		{"us_government_regional", "usgovvirginia.login.microsoftonline.us", "https://login.microsoftonline.us/" + contosoTID + "/v2.0"},
		{"china", "login.chinacloudapi.cn", "https://login.partner.microsoftonline.cn/" + contosoTID + "/v2.0"},
		{"loopback", strings.TrimPrefix(srv.URL, "https://"), srv.URL + "/" + contosoTID + "/v2.0"},
		{"extra_host_name", "adfs.contoso.com", "https://adfs.contoso.com/" + contosoTID + "/v2.0"},
	}
	for _, tt := range issuerTests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, "https://"+tt.host+"/"+contosoTID+"/oauth2/v2.0/token", ccForm())
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			if c := claims(t, r.str("access_token")); c["iss"] != tt.issuer {
				t.Errorf("iss = %v, want %s", c["iss"], tt.issuer)
			}
			if got := lastTokenRequest(srv).Host; got != tt.host {
				t.Errorf("recorded Host = %q, want %q", got, tt.host)
			}
		})
	}
	t.Run("graph_host", func(t *testing.T) {
		tok := appToken(t, srv, "https://graph.microsoft.com/.default").str("access_token")
		if r := callResource(t, srv, "GET", "https://graph.microsoft.com/v1.0/users", tok, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	})
	t.Run("discovery_names_the_host_used", func(t *testing.T) {
		r := get(t, srv, "https://login.windows.net/common/v2.0/.well-known/openid-configuration")
		if r.str("token_endpoint") != "https://login.windows.net/common/oauth2/v2.0/token" || r.str("issuer") != "https://login.microsoftonline.com/{tenantid}/v2.0" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("b2c_host", func(t *testing.T) {
		u := srv.B2CAuthority("contosob2c.onmicrosoft.com", "B2C_1_signin")
		if !strings.HasPrefix(u, "https://contosob2c.b2clogin.com/") {
			t.Fatalf("B2CAuthority = %s", u)
		}
		r := get(t, srv, u+"/v2.0/.well-known/openid-configuration")
		if !strings.HasPrefix(r.str("issuer"), "https://contosob2c.b2clogin.com/") {
			t.Errorf("issuer = %s", r.str("issuer"))
		}
	})
	t.Run("certificate_is_not_trusted_by_default", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{DialContext: srv.Transport().DialContext}}
		_, err := c.Get("https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("err = %v, want an unknown authority error", err)
		}
	})
	t.Run("ca_pool", func(t *testing.T) {
		if srv.CAPool() == nil || srv.CACertificate() == nil || !srv.CACertificate().IsCA {
			t.Fatal("no CA")
		}
		tr := srv.Transport().Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: srv.CAPool(), ServerName: "graph.microsoft.us"}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/common/discovery/instance")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	t.Run("name_outside_the_certificate", func(t *testing.T) {
		_, err := srv.Client().Get("https://example.org/common/v2.0/.well-known/openid-configuration")
		var host x509.HostnameError
		if !errors.As(err, &host) {
			t.Errorf("err = %v, want a host name error", err)
		}
	})
}

func TestPlainServerHasNoCA(t *testing.T) {
	srv := authtest.NewServer(t)
	if srv.CAPool() != nil || srv.CACertificate() != nil {
		t.Error("plain server has a CA")
	}
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || srv.Authority("x") != srv.URL+"/x" || srv.Issuer("common") != srv.URL+"/{tenantid}/v2.0" {
		t.Errorf("URL %s Authority %s Issuer %s", srv.URL, srv.Authority("x"), srv.Issuer("common"))
	}
	// Client sends every host to the server, so no request leaves the
	// machine.
	resp, err := srv.Client().Get("http://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
