package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// started runs run in the background and returns the server's URL, the
// banner, and a function that stops it and returns run's error.
func started(t *testing.T, args ...string) (string, string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, pw)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var banner strings.Builder
	u := ""
	for line := range lines {
		banner.WriteString(line + "\n")
		if rest, ok := strings.CutPrefix(line, "authtest listening on "); ok {
			u = rest
		}
		if strings.HasPrefix(line, "registered:") {
			break
		}
	}
	if u == "" {
		cancel()
		t.Fatalf("no URL printed; output:\n%s\nrun: %v", banner.String(), <-done)
	}
	go func() {
		for range lines { // keep reading the log
		}
	}()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return u, banner.String(), stop
}

func writeConfig(t *testing.T, dir string, certPEM []byte) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "daemon.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `{
  "clients": [
    {"id": "my-app", "secret": "s3cret", "redirect_uris": ["http://localhost/cb"]},
    {"id": "my-cli", "public": true, "family_id": "1"},
    {"id": "my-daemon", "certificate_files": ["daemon.pem"], "roles": ["Orders.Read.All"]}
  ],
  "users": [{"username": "alice@contoso.com", "password": "pw", "tenant_id": "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"}],
  "apis": [{"audience": "api://orders", "scopes": ["Orders.Read"], "roles": ["Orders.Read.All", "Orders.Admin"]}],
  "managed_identities": [{"client_id": "77777777-aaaa-4bbb-8ccc-000000000007"}],
  "tenants": {"contoso.onmicrosoft.com": "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"},
  "region": "eastus"
}`
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "daemon"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return key, c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func postJSON(t *testing.T, c *http.Client, u string, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := c.PostForm(u, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

func TestRunServesTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	key, cert, certPEM := newCert(t)
	cfg := writeConfig(t, dir, certPEM)
	u, banner, stop := started(t, "-addr", "127.0.0.1:0", "-config", cfg, "-region", "westus2")
	for _, want := range []string{"authority: " + u + "/contoso.com", "authority: " + u + "/organizations", "graph:     " + u + "/v1.0/me", "registered: 3 client(s), 1 user(s), 1 API(s)", "region:    westus2"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	c := &http.Client{}
	tenant := "contoso.onmicrosoft.com"
	t.Run("client_secret", func(t *testing.T) {
		st, m := postJSON(t, c, u+"/"+tenant+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"my-app"}, "client_secret": {"s3cret"}, "scope": {"api://orders/.default"}})
		if st != 200 || m["access_token"] == nil {
			t.Fatalf("%d %v", st, m)
		}
	})
	t.Run("certificate_from_file", func(t *testing.T) {
		aud := u + "/" + tenant + "/oauth2/v2.0/token"
		assertion := signRS256(t, key, cert, map[string]any{"iss": "my-daemon", "sub": "my-daemon", "aud": aud, "jti": "j1", "exp": time.Now().Add(5 * time.Minute).Unix()})
		st, m := postJSON(t, c, aud, url.Values{"grant_type": {"client_credentials"}, "client_id": {"my-daemon"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}, "scope": {"api://orders/.default"}})
		if st != 200 {
			t.Fatalf("%d %v", st, m)
		}
		claims := decodeJWT(t, m["access_token"].(string))
		if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "Orders.Read.All" || claims["tid"] != "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b" {
			t.Errorf("claims = %v", claims)
		}
	})
	t.Run("password_and_graph", func(t *testing.T) {
		st, m := postJSON(t, c, u+"/organizations/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {"my-cli"}, "username": {"alice@contoso.com"}, "password": {"pw"}, "scope": {"User.Read"}})
		if st != 200 || m["foci"] != "1" {
			t.Fatalf("%d %v", st, m)
		}
		req, _ := http.NewRequest("GET", u+"/v1.0/me", nil)
		req.Header.Set("Authorization", "Bearer "+m["access_token"].(string))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var me map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		if me["userPrincipalName"] != "alice@contoso.com" {
			t.Errorf("/me = %v", me)
		}
	})
	t.Run("region_flag_overrides_config", func(t *testing.T) {
		req, _ := http.NewRequest("GET", u+"/metadata/instance/compute/location?format=text&api-version=2021-01-01", nil)
		req.Header.Set("Metadata", "true")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "westus2" {
			t.Errorf("region = %q", b)
		}
	})
	t.Run("managed_identity", func(t *testing.T) {
		req, _ := http.NewRequest("GET", u+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://orders&client_id=77777777-aaaa-4bbb-8ccc-000000000007", nil)
		req.Header.Set("Metadata", "true")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	c.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Errorf("run returned %v after the context ended", err)
	}
	if _, err := c.Get(u + "/common/v2.0/.well-known/openid-configuration"); err == nil {
		t.Errorf("the server still answers after run returned")
	}
}

func TestRunTLS(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	u, banner, stop := started(t, "-addr", "127.0.0.1:0", "-tls", "-ca-out", caFile, "-quiet")
	if !strings.HasPrefix(u, "https://127.0.0.1:") || !strings.Contains(banner, "CA certificate written to "+caFile) {
		t.Fatalf("URL %s, banner:\n%s", u, banner)
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("ca-out is not a PEM certificate: %s", b)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(u + "/common/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc["issuer"] != u+"/{tenantid}/v2.0" {
		t.Errorf("issuer = %v", doc["issuer"])
	}
	tr.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Error(err)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown_flag", []string{"-nope"}, "flag provided but not defined"},
		{"positional_argument", []string{"extra"}, "unexpected arguments"},
		{"ca_out_without_tls", []string{"-ca-out", "x.pem"}, "-ca-out needs -tls"},
		{"missing_config", []string{"-config", filepath.Join(dir, "absent.json")}, "read config"},
		{"not_json", []string{"-config", file("bad.json", "{")}, "unexpected end of JSON input"},
		{"unknown_field", []string{"-config", file("typo.json", `{"client": []}`)}, `unknown field "client"`},
		{"trailing_data", []string{"-config", file("trail.json", `{} {}`)}, "after top-level value"},
		{"client_without_id", []string{"-config", file("noid.json", `{"clients":[{"secret":"x"}]}`)}, "clients[0] has no id"},
		{"user_without_username", []string{"-config", file("nouser.json", `{"users":[{"password":"x"}]}`)}, "users[0] has no username"},
		{"api_without_audience", []string{"-config", file("noapi.json", `{"apis":[{"scopes":["x"]}]}`)}, "apis[0] has no audience"},
		{"identity_without_client_id", []string{"-config", file("nomi.json", `{"managed_identities":[{}]}`)}, "managed_identities[0] has no client_id"},
		{"bad_certificate", []string{"-addr", "127.0.0.1:0", "-config", file("cert.json", `{"clients":[{"id":"a","certificates":["not pem"]}]}`)}, "no PEM CERTIFICATE block"},
		{"missing_certificate_file", []string{"-addr", "127.0.0.1:0", "-config", file("certfile.json", `{"clients":[{"id":"a","certificate_files":["nope.pem"]}]}`)}, "nope.pem"},
		{"address_in_use", []string{"-addr", busy.Addr().String()}, "listen on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := run(context.Background(), tt.args, &out)
			if err == nil || !strings.Contains(err.Error()+out.String(), tt.want) {
				t.Errorf("err = %v (output %q), want %q", err, out.String(), tt.want)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		var out strings.Builder
		if err := run(context.Background(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("err = %v", err)
		}
		if !strings.Contains(out.String(), "-config file") || !strings.Contains(out.String(), "Usage: authtest") {
			t.Errorf("usage:\n%s", out.String())
		}
	})
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := loadConfig(filepath.Join("testdata", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clients) == 0 || len(c.Users) == 0 || len(c.APIs) == 0 {
		t.Errorf("example config = %+v", c)
	}
}

func FuzzConfig(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "config.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"clients":[{"id":"a","certificates":["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"]}]}`))
	f.Add([]byte(`{"users":[{"username":"u@x","mfa":true,"tenants":["t"]}],"tenants":{"a":"b"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c config
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if c.validate() != nil {
			return
		}
		for _, cl := range c.Clients {
			for _, p := range cl.Certificates {
				_, _ = parseCertificates([]byte(p))
			}
		}
	})
}

func signRS256(t *testing.T, key *rsa.PrivateKey, cert *x509.Certificate, claims map[string]any) string {
	t.Helper()
	th := sha256.Sum256(cert.Raw)
	hb, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(th[:])})
	cb, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func decodeJWT(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func TestRunDeviceCodeInterval(t *testing.T) {
	_, _, certPEM := newCert(t)
	cfg := writeConfig(t, t.TempDir(), certPEM)
	u, _, stop := started(t, "-addr", "127.0.0.1:0", "-quiet", "-config", cfg, "-device-code-interval", "2s")
	c := &http.Client{Transport: &http.Transport{}}
	st, m := postJSON(t, c, u+"/organizations/oauth2/v2.0/devicecode", url.Values{"client_id": {"my-cli"}, "scope": {"openid"}})
	if st != 200 || m["interval"] != float64(2) {
		t.Errorf("device authorization %d %v, want interval 2", st, m)
	}
	c.CloseIdleConnections()
	if err := stop(); err != nil {
		t.Error(err)
	}
}
