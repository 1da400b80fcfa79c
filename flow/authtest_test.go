package flow

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// These tests run the foundations against authtest, an independent
// implementation of Entra's side: plain on loopback, and over TLS posing
// as Entra's real hosts.

const graphDefault = "https://graph.microsoft.com/.default"

// rsaCertificate is a self-signed certificate and its key.
func rsaCertificate(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "daemon"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)} // valid at the tests' clocks too
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// appToken redeems a client-credentials request through c with cred.
func appToken(ctx context.Context, c *core, cred credential.Credential, opts ...CallOption) (*oauth.TokenResponse, error) {
	cc, err := newCallConfig(opts...)
	if err != nil {
		return nil, err
	}
	ep, err := c.endpointsFor(ctx, cc)
	if err != nil {
		return nil, err
	}
	claims, err := c.claimsFor(cc.claims)
	if err != nil {
		return nil, err
	}
	return c.redeem(ctx, tokenRequest{endpoints: ep, form: oauth.ClientCredentialsForm(c.clientID, []string{graphDefault}, claims), cred: cred})
}

func TestAuthtestKnownHostCertificateAndRegion(t *testing.T) {
	for _, region := range []string{"", "westus2"} {
		t.Run("region_"+region, func(t *testing.T) {
			srv := authtest.NewTLSServer(t)
			cert, key := rsaCertificate(t)
			srv.AddClient(authtest.Client{ID: "daemon", Certificates: []*x509.Certificate{cert}})
			cred, err := credential.Certificate([]*x509.Certificate{cert}, key)
			if err != nil {
				t.Fatal(err)
			}
			authority := srv.Authority("contoso.com")
			if !strings.HasPrefix(authority, "https://login.microsoftonline.com/") {
				t.Fatalf("authority %q", authority)
			}
			c := mustCore(t, "daemon", WithAuthority(authority), WithHTTPClient(srv.Client()), WithRegion(region), WithCapabilities("cp1"))
			tok, err := appToken(context.Background(), c, cred)
			if err != nil {
				t.Fatal(err)
			}
			claims, err := srv.Verify(tok.AccessToken)
			if err != nil {
				t.Fatalf("authtest rejects its own token: %v", err)
			}
			if claims["xms_cc"] == nil {
				t.Errorf("token claims %v lack xms_cc: the capabilities were not sent", claims)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests for the first token, want 1: %v", len(reqs), reqs)
			}
			wantHost := "login.microsoftonline.com"
			if region != "" {
				wantHost = region + ".login.microsoft.com"
			}
			if reqs[0].Host != wantHost || reqs[0].Endpoint != authtest.EndpointToken || reqs[0].Status != 200 {
				t.Errorf("request went to %s (%s, status %d), want %s", reqs[0].Host, reqs[0].Endpoint, reqs[0].Status, wantHost)
			}
		})
	}
}

func TestAuthtestRetriesWithFreshAssertions(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	cert, key := rsaCertificate(t)
	srv.AddClient(authtest.Client{ID: "daemon", Certificates: []*x509.Certificate{cert}})
	cred, _ := credential.Certificate([]*x509.Certificate{cert}, key)
	srv.InjectFaults(1, authtest.Fault{Status: 429, RetryAfter: "3"})
	srv.InjectFaults(1, authtest.Fault{Drop: true})
	var sl sleeps
	c := mustCore(t, "daemon", WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
	if _, err := appToken(context.Background(), c, cred); err != nil {
		t.Fatal(err)
	}
	reqs := srv.RequestsTo(authtest.EndpointToken)
	if len(reqs) != 3 {
		t.Fatalf("%d attempts, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		a := r.Form.Get("client_assertion")
		if a == "" || seen[a] {
			t.Errorf("attempt's assertion is empty or repeated")
		}
		seen[a] = true
	}
	if w := sl.got(); len(w) != 2 || w[0] != 3*time.Second || w[1] < 500*time.Millisecond || w[1] >= 2*time.Second {
		t.Errorf("waits asked for = %v, want [3s, backoff]", w)
	}
}

func TestAuthtestErrors(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	srv.AddClient(authtest.Client{ID: "app", Secret: "right-secret"})
	c := mustCore(t, "app", WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))

	_, err := appToken(context.Background(), c, credential.Secret("wrong-secret"))
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != 401 || fe.Code != "invalid_client" || len(fe.ErrorCodes) == 0 ||
		fe.CorrelationID == "" || fe.TraceID == "" || fe.Timestamp == "" || errors.Is(err, ErrInteractionRequired) {
		t.Errorf("wrong secret: %#v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("the error shows the secret: %v", err)
	}

	srv.InjectFaults(1, authtest.Fault{Error: "interaction_required", ErrorCodes: []int{50076}, Description: "MFA", Claims: `{"access_token":{"capolids":{"essential":true,"values":["1"]}}}`})
	_, err = appToken(context.Background(), c, credential.Secret("right-secret"))
	if !errors.As(err, &fe) || fe.Code != "interaction_required" || fe.Claims == "" || !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("interaction_required: %v", err)
	}

	srv.InjectFaults(1, authtest.Fault{Error: "invalid_grant", Suberror: "consent_required", ErrorCodes: []int{65001}})
	_, err = appToken(context.Background(), c, credential.Secret("right-secret"))
	if !errors.As(err, &fe) || fe.Suberror != "consent_required" || !errors.Is(err, ErrInteractionRequired) {
		t.Errorf("consent_required: %v", err)
	}

	cc, _ := newCallConfig()
	ep, _ := c.endpointsFor(context.Background(), cc)
	_, err = c.redeem(context.Background(), tokenRequest{endpoints: ep, form: oauth.ClientCredentialsForm("app", []string{"api://nowhere/.default"}, ""), cred: credential.Secret("right-secret")})
	if !errors.As(err, &fe) || fe.Code != "invalid_scope" && fe.Code != "invalid_resource" {
		t.Errorf("unknown scope: %v", err)
	}
	_, err = c.redeem(context.Background(), tokenRequest{endpoints: ep, form: oauth.ClientCredentialsForm("no-such-app", []string{graphDefault}, ""), cred: credential.Secret("x-secret")})
	if !errors.As(err, &fe) || fe.Code == "" {
		t.Errorf("unknown client: %v", err)
	}
}

func TestAuthtestPlainLoopbackWithInstanceDiscovery(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: "app", Secret: "s3cret-value"})
	c := mustCore(t, "app", WithAuthority(srv.Authority("contoso.com")), WithInstanceDiscoveryEndpoint(srv.URL), WithHTTPClient(srv.Client()),
		WithRegion("westus2")) // ignored: a loopback authority has no regional host
	for range 2 {
		if _, err := appToken(context.Background(), c, credential.Secret("s3cret-value")); err != nil {
			t.Fatal(err)
		}
	}
	for endpoint, want := range map[string]int{authtest.EndpointDiscovery: 1, authtest.EndpointOpenIDConfiguration: 1, authtest.EndpointToken: 2} {
		if got := srv.CountRequests(endpoint); got != want {
			t.Errorf("%d requests to %s, want %d", got, endpoint, want)
		}
	}
	if _, err := appToken(context.Background(), c, credential.Secret("s3cret-value"), Tenant("fabrikam.com")); err != nil {
		t.Fatalf("Tenant: %v", err)
	}
	if r := srv.RequestsTo(authtest.EndpointToken); r[len(r)-1].Tenant != "fabrikam.com" {
		t.Errorf("Tenant override went to tenant %q", r[len(r)-1].Tenant)
	}
}

func TestAuthtestOtherAuthorities(t *testing.T) {
	srv := authtest.NewServer(t)
	cert, key := rsaCertificate(t)
	srv.AddClient(authtest.Client{ID: "app", Secret: "s3cret-value", Certificates: []*x509.Certificate{cert}})
	certCred, _ := credential.Certificate([]*x509.Certificate{cert}, key)
	tests := []struct {
		name      string
		opt       Option
		cred      credential.Credential
		discovery int // discovery documents read
	}{
		{"oidc_secret_basic", WithOIDCAuthority(srv.OIDCIssuer()), credential.Secret("s3cret-value"), 1},
		{"oidc_certificate", WithOIDCAuthority(srv.OIDCIssuer()), certCred, 1},
		{"adfs_secret", WithAuthority(srv.ADFSAuthority()), credential.Secret("s3cret-value"), 0},
		{"adfs_certificate", WithAuthority(srv.ADFSAuthority()), certCred, 0},
		{"b2c", WithAuthority(srv.B2CAuthority("contoso.onmicrosoft.com", "B2C_1_susi")), credential.Secret("s3cret-value"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			c := mustCore(t, "app", tt.opt, WithHTTPClient(srv.Client()))
			tok, err := appToken(context.Background(), c, tt.cred)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Verify(tok.AccessToken); err != nil {
				t.Errorf("token: %v", err)
			}
			if got := srv.CountRequests(authtest.EndpointOpenIDConfiguration); got != tt.discovery {
				t.Errorf("%d discovery documents read, want %d", got, tt.discovery)
			}
		})
	}
}
