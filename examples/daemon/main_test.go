package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/authtest"
)

func testCertificate(t *testing.T) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile("testdata/daemon-cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestDaemonListsMessages runs the daemon against a local authority and
// its Graph stand-in, with the settings from the environment as the Azure
// SDKs name them, and checks the messages it prints and the token request
// it made (a certificate assertion, no secret).
func TestDaemonListsMessages(t *testing.T) {
	srv := authtest.NewServer(t)
	const clientID = "33333333-aaaa-4bbb-8ccc-000000000003"
	srv.AddClient(authtest.Client{ID: clientID, Certificates: []*x509.Certificate{testCertificate(t)}, Roles: []string{"Mail.Read"}})
	srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "unused", TenantID: srv.TenantID("contoso.com")})

	env := map[string]string{
		"AZURE_CLIENT_ID":               clientID,
		"AZURE_CLIENT_CERTIFICATE_PATH": "testdata/daemon.pem",
	}
	var out bytes.Buffer
	args := []string{"-authority", srv.Authority("contoso.com"), "-graph", srv.URL, "-user", "alice@contoso.com", "-top", "3"}
	if err := run(context.Background(), args, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	if !strings.HasPrefix(got, "3 newest messages of alice@contoso.com:\n") || strings.Count(got, "\n") != 4 {
		t.Errorf("output:\n%s", got)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(reqs))
	}
	f := reqs[0].Form
	if f.Get("grant_type") != "client_credentials" || f.Get("client_assertion") == "" || f.Has("client_secret") {
		t.Errorf("token request: grant %q, assertion present %v, secret present %v",
			f.Get("grant_type"), f.Get("client_assertion") != "", f.Has("client_secret"))
	}
}

func TestDaemonFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no_tenant", []string{"-user", "u"}, nil, "no tenant"},
		{"no_client_id", []string{"-tenant", "t", "-user", "u"}, nil, "no client ID"},
		{"no_certificate", []string{"-tenant", "t", "-client-id", "c", "-user", "u"}, nil, "no certificate"},
		{"no_user", nil, map[string]string{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_CERTIFICATE_PATH": "x"}, "no user"},
		{"bad_top", []string{"-tenant", "t", "-client-id", "c", "-cert", "x", "-user", "u", "-top", "0"}, nil, "-top 0"},
		{"missing_file", []string{"-tenant", "t", "-client-id", "c", "-cert", "testdata/nope.pem", "-user", "u"}, nil, "nope.pem"},
		{"not_a_certificate", []string{"-tenant", "t", "-client-id", "c", "-cert", "testdata/authtest.json", "-user", "u"}, nil, "reading testdata/authtest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
