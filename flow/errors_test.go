package flow

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// TestAuthorityErrorsEndToEnd reaches the authority's errors through the
// public API and checks every field of the *Error.
func TestAuthorityErrorsEndToEnd(t *testing.T) {
	srv, app := newDaemon(t)
	wrong := mustConfidential(t, daemonID, credential.Secret("wrong-s3cret-VALUE"), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
	unknown := mustConfidential(t, "no-such-app", credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()))
	const mfaClaims = `{"access_token":{"capolids":{"essential":true,"values":["c0ffee"]}}}`
	tests := []struct {
		name        string
		app         *Confidential
		scopes      []string
		fault       *authtest.Fault
		status      int
		code        string
		suberror    string
		errorCode   int
		claims      string
		interaction bool
	}{
		{"invalid_client", wrong, []string{graphDefault}, nil, 401, "invalid_client", "", 7000215, "", false},
		{"unauthorized_client", unknown, []string{graphDefault}, nil, 400, "unauthorized_client", "", 700016, "", false},
		{"invalid_scope", app, []string{"User.Read"}, nil, 400, "invalid_scope", "", 1002012, "", false},
		{"invalid_grant_consent_required", app, []string{graphDefault},
			&authtest.Fault{Error: "invalid_grant", Suberror: "consent_required", ErrorCodes: []int{65001}, Description: "The user or administrator has not consented."},
			400, "invalid_grant", "consent_required", 65001, "", true},
		{"interaction_required", app, []string{graphDefault},
			&authtest.Fault{Error: "interaction_required", ErrorCodes: []int{50076}, Description: "Due to a configuration change you must use MFA.", Claims: mfaClaims},
			400, "interaction_required", "", 50076, mfaClaims, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetRequests()
			if tt.fault != nil {
				srv.InjectFaults(1, *tt.fault)
			}
			_, err := tt.app.AcquireTokenForClient(bg(), tt.scopes)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, not an *Error", err)
			}
			sent := srv.RequestsTo(authtest.EndpointToken)
			if len(sent) != 1 {
				t.Errorf("%d attempts: an OAuth error is not retried", len(sent))
			}
			crid := sent[0].Header.Get("client-request-id")
			if fe.StatusCode != tt.status || fe.Code != tt.code || fe.Suberror != tt.suberror || fe.Claims != tt.claims ||
				len(fe.ErrorCodes) != 1 || fe.ErrorCodes[0] != tt.errorCode ||
				!strings.HasPrefix(fe.Description, "AADSTS") || fe.TraceID == "" || fe.Timestamp == "" ||
				fe.CorrelationID != crid || fe.ClientRequestID != crid {
				t.Errorf("error fields %#v (client-request-id %s)", fe, crid)
			}
			if got := errors.Is(err, ErrInteractionRequired); got != tt.interaction {
				t.Errorf("errors.Is(err, ErrInteractionRequired) = %v", got)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestRetriesEndToEnd injects throttling, outages and dropped
// connections and checks the attempts made and the waits asked for,
// without waiting.
func TestRetriesEndToEnd(t *testing.T) {
	tests := []struct {
		name     string
		faults   []authtest.Fault
		deadline time.Duration // of the call's context; 0 for none
		attempts int
		waits    []time.Duration // exact waits; nil to check only their number
		nwaits   int
		ok       bool
	}{
		{"retry_after_on_429_and_503", []authtest.Fault{{Status: 429, RetryAfter: "7"}, {Status: 503, RetryAfter: "2"}}, 0, 3,
			[]time.Duration{7 * time.Second, 2 * time.Second}, 2, true},
		{"retry_after_as_a_date", []authtest.Fault{{Status: 503, RetryAfter: t0.Add(20 * time.Second).Format(http.TimeFormat)}}, 0, 2,
			[]time.Duration{20 * time.Second}, 1, true},
		{"dropped_connection_then_500", []authtest.Fault{{Drop: true}, {Status: 500}}, 0, 3, nil, 2, true},
		{"three_outages_fail", []authtest.Fault{{Status: 503}, {Status: 502}, {Status: 504}}, 0, 3, nil, 2, false},
		{"retry_after_past_the_deadline", []authtest.Fault{{Status: 429, RetryAfter: "3600"}}, time.Minute, 1, nil, 0, false},
		{"bad_request_is_not_retried", []authtest.Fault{{Status: 400, Error: "invalid_request"}}, 0, 1, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sl sleeps
			srv, app := newDaemon(t, WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
			for _, f := range tt.faults {
				srv.InjectFaults(1, f)
			}
			ctx := bg()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			r, err := app.AcquireTokenForClient(ctx, []string{graphDefault})
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if tt.ok {
				if _, err := srv.Verify(r.AccessToken); err != nil {
					t.Error(err)
				}
			}
			if n := len(srv.RequestsTo(authtest.EndpointToken)); n != tt.attempts {
				t.Errorf("%d attempts, want %d", n, tt.attempts)
			}
			got := sl.got()
			if len(got) != tt.nwaits {
				t.Errorf("waits %v, want %d", got, tt.nwaits)
			}
			for i, w := range tt.waits {
				if i < len(got) && got[i] != w {
					t.Errorf("wait %d = %v, want %v", i, got[i], w)
				}
			}
			var fe *Error
			if tt.name == "retry_after_past_the_deadline" && (!errors.As(err, &fe) || fe.StatusCode != 429 || !strings.Contains(fe.Description, "not retried")) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestFreshAssertionPerAttempt checks that every attempt of a retried
// request carries a newly signed certificate assertion.
func TestFreshAssertionPerAttempt(t *testing.T) {
	srv := authtest.NewTLSServer(t)
	cert, key := rsaCertificate(t)
	srv.AddClient(authtest.Client{ID: daemonID, Certificates: []*x509.Certificate{cert}})
	cred, _ := credential.Certificate([]*x509.Certificate{cert}, key)
	var sl sleeps
	app := mustConfidential(t, daemonID, cred, WithAuthority(srv.Authority("contoso.com")), WithHTTPClient(srv.Client()),
		WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}), WithRegion("westus2"))
	srv.InjectFaults(2, authtest.Fault{Status: 503})
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range srv.RequestsTo(authtest.EndpointToken) {
		a := r.Form.Get("client_assertion")
		if a == "" || seen[a] || r.Host != "westus2.login.microsoft.com" {
			t.Errorf("attempt to %s: assertion empty or repeated", r.Host)
		}
		seen[a] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d attempts, want 3", len(seen))
	}
}

// TestRequestShape checks the headers and form of a token request, as
// authtest received them.
func TestRequestShape(t *testing.T) {
	srv, app := newDaemon(t, WithAppName("contoso-daemon"), WithAppVersion("1.2.3"), WithCapabilities("cp1", "cp2"),
		WithExcludeScopes("offline_access"))
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault, graphDefault}); err != nil {
		t.Fatal(err)
	}
	r := srv.RequestsTo(authtest.EndpointToken)[0]
	for h, want := range map[string]string{
		"x-app-name": "contoso-daemon", "x-app-ver": "1.2.3", "x-client-SKU": oauth.SKU, "x-client-Ver": oauth.Version(), "x-client-OS": runtime.GOOS,
		"return-client-request-id": "true", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if r.Header.Get("client-request-id") == "" {
		t.Errorf("headers %v", r.Header)
	}
	for f, want := range map[string]string{
		"grant_type": "client_credentials", "client_id": daemonID, "scope": graphDefault, "client_secret": daemonSecret,
		"claims": `{"access_token":{"xms_cc":{"values":["cp1","cp2"]}}}`, "client_info": "",
	} {
		if got := r.Form.Get(f); got != want {
			t.Errorf("form %s = %q, want %q", f, got, want)
		}
	}
}
