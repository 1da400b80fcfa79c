package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/oauth"
)

const contosoToken = "/contoso.com/oauth2/v2.0/token"

// entraHosts are the names the TLS test server answers for.
var entraHosts = []string{"login.microsoftonline.com", "westus2.login.microsoft.com", "eastus.login.microsoft.com"}

// clientCredentials redeems a client-credentials request through c.
func clientCredentials(t *testing.T, c *core, cred *testCredential, opts ...CallOption) (*oauth.TokenResponse, error) {
	t.Helper()
	cc, err := newCallConfig(opts...)
	if err != nil {
		return nil, err
	}
	ep, err := c.endpointsFor(context.Background(), cc)
	if err != nil {
		return nil, err
	}
	claims, err := c.claimsFor(cc.claims)
	if err != nil {
		return nil, err
	}
	return c.redeem(context.Background(), tokenRequest{
		endpoints: ep,
		form:      oauth.ClientCredentialsForm(c.clientID, []string{"https://graph.microsoft.com/.default"}, claims),
		cred:      cred,
	})
}

func TestFirstTokenFromKnownHostCostsOneRequest(t *testing.T) {
	s := newServer(t, entraHosts...)
	s.handle(contosoToken, tokenHandler("at-1"))
	lc := newLoopbackClient(t, s)
	cred := &testCredential{secret: "s3cret-value"}
	c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client))
	tok, err := clientCredentials(t, c, cred)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at-1" || !tok.ExpiresOn.After(time.Now()) {
		t.Errorf("token = %v", tok)
	}
	if n := lc.n.Load(); n != 1 {
		t.Errorf("the first token cost %d HTTP requests, want 1", n)
	}
	r := s.requests()[0]
	if r.Host != "login.microsoftonline.com" || r.Form.Get("client_secret") != "s3cret-value" ||
		r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("client_id") != "cid" || r.Form.Get("client_info") != "" {
		t.Errorf("request = %s %s %v", r.Host, r.Path, r.Form)
	}
	creq := cred.requests()[0]
	if creq.Audience != "https://login.microsoftonline.com"+contosoToken || creq.TokenEndpoint != creq.Audience || creq.ClientID != "cid" || creq.Now.IsZero() {
		t.Errorf("credential request = %+v", creq)
	}
}

func TestRegionalEndpointForClientCredentialsOnly(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		env    string
		host   string
		imdsOK bool
	}{
		{"fixed_region", []Option{WithRegion("westus2")}, "", "westus2.login.microsoft.com", false},
		{"region_from_environment", []Option{WithRegion(AutoDetectRegion)}, "eastus", "eastus.login.microsoft.com", false},
		{"region_from_imds", []Option{WithRegion(AutoDetectRegion)}, "", "westus2.login.microsoft.com", true},
		{"no_region", nil, "", "login.microsoftonline.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, entraHosts...)
			s.handle(contosoToken, tokenHandler("at"))
			im := imds(t, 200, "westus2")
			if !tt.imdsOK {
				im = imds(t, 404, "")
			}
			lc := newLoopbackClient(t, s)
			cred := &testCredential{secret: "s"}
			opts := append([]Option{WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client),
				WithRegionEndpoint(im.URL), env(map[string]string{"REGION_NAME": tt.env})}, tt.opts...)
			c := mustCore(t, "cid", opts...)
			if _, err := clientCredentials(t, c, cred); err != nil {
				t.Fatal(err)
			}
			r := s.requests()[0]
			if r.Host != tt.host || r.Path != contosoToken {
				t.Errorf("client credentials went to %s%s, want %s", r.Host, r.Path, tt.host)
			}
			creq := cred.requests()[0]
			if creq.Audience != "https://login.microsoftonline.com"+contosoToken {
				t.Errorf("assertion audience %q is not the global token endpoint", creq.Audience)
			}
			if creq.TokenEndpoint != "https://"+tt.host+contosoToken {
				t.Errorf("credential's token endpoint = %q", creq.TokenEndpoint)
			}
			// Other grants stay global.
			ep, _ := c.endpointsFor(context.Background(), callConfig{})
			for _, form := range []map[string][]string{
				oauth.OnBehalfOfForm("cid", oauth.UserScopes([]string{"User.Read"}, nil), "user-jwt", ""),
				oauth.RefreshTokenForm("cid", oauth.UserScopes(nil, nil), "rt", ""),
			} {
				if _, err := c.redeem(context.Background(), tokenRequest{endpoints: ep, form: form, cred: cred}); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range s.requests()[1:] {
				if r.Host != "login.microsoftonline.com" {
					t.Errorf("%s went to %s, want the global host", r.Form.Get("grant_type"), r.Host)
				}
			}
		})
	}
}

func TestTokenCallRetriesWithFreshAssertions(t *testing.T) {
	s := newServer(t)
	var attempts atomic.Int64
	s.handle("/t1/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		switch attempts.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "4")
			writeJSON(w, 429, `{"error":"throttled"}`)
		case 2:
			writeJSON(w, 503, `{"error":"unavailable"}`)
		default:
			tokenHandler("at")(w, r)
		}
	})
	s.handle("/common/discovery/instance", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"tenant_discovery_endpoint":"%s/t1/v2.0/.well-known/openid-configuration"}`, s.URL))
	})
	s.handle("/t1/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/t1", s.URL+"/t1/v2.0"))
	})
	var sl sleeps
	cred := &testCredential{secret: "assertion-secret", assertion: true}
	c := mustCore(t, "cid", WithAuthority(s.URL+"/t1"), WithInstanceDiscoveryEndpoint(s.URL),
		WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}), WithClock(newClock().Now))
	if _, err := clientCredentials(t, c, cred); err != nil {
		t.Fatal(err)
	}
	var tokenReqs []seenRequest
	for _, r := range s.requests() {
		if r.Path == "/t1/oauth2/v2.0/token" {
			tokenReqs = append(tokenReqs, r)
		}
	}
	if len(tokenReqs) != 3 || len(cred.requests()) != 3 {
		t.Fatalf("%d attempts, %d Apply calls; want 3 and 3", len(tokenReqs), len(cred.requests()))
	}
	seen := map[string]bool{}
	for _, r := range tokenReqs {
		a := r.Form.Get("client_assertion")
		if seen[a] {
			t.Errorf("assertion %q sent twice", a)
		}
		seen[a] = true
	}
	waits := sl.got()
	if len(waits) != 2 || waits[0] != 4*time.Second || waits[1] < time.Second || waits[1] >= 2*time.Second {
		t.Errorf("waits asked for = %v, want [4s, 1s..2s]", waits)
	}
	if creq := cred.requests()[0]; len(creq.AuthMethods) != 2 || len(creq.Algorithms) != 2 {
		t.Errorf("credential request lacks the document's methods and algorithms: %+v", creq)
	}
}

func TestAuthorizationCodeIsNeverRetried(t *testing.T) {
	s := newServer(t, entraHosts...)
	s.handle(contosoToken, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 503, `{"error":"temporarily_unavailable"}`) })
	lc := newLoopbackClient(t, s)
	var sl sleeps
	c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client), WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}))
	ep, _ := c.endpointsFor(context.Background(), callConfig{})
	_, err := c.redeem(context.Background(), tokenRequest{endpoints: ep, form: oauth.AuthCodeForm("cid", nil, "the-code", "http://localhost", "", ""), cred: &testCredential{secret: "s"}})
	var fe *Error
	if !errors.As(err, &fe) || fe.StatusCode != 503 {
		t.Fatalf("error = %v", err)
	}
	if n := len(s.requests()); n != 1 {
		t.Errorf("%d attempts for a code redemption, want 1", n)
	}
}

func TestAuthorityErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		want        Error
		interaction bool
	}{
		{"invalid_client", 401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"timestamp":"2030-01-02 03:04:05Z","trace_id":"tr","correlation_id":"co"}`,
			Error{StatusCode: 401, Code: "invalid_client", Description: "AADSTS7000215: Invalid client secret provided.", ErrorCodes: []int{7000215}, Timestamp: "2030-01-02 03:04:05Z", TraceID: "tr", CorrelationID: "co"}, false},
		{"invalid_scope", 400, `{"error":"invalid_scope","error_description":"AADSTS1002012: The provided value for scope is not valid.","error_codes":[1002012]}`,
			Error{StatusCode: 400, Code: "invalid_scope", Description: "AADSTS1002012: The provided value for scope is not valid.", ErrorCodes: []int{1002012}}, false},
		{"unauthorized_client", 400, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found.","error_codes":[700016]}`,
			Error{StatusCode: 400, Code: "unauthorized_client", Description: "AADSTS700016: Application not found.", ErrorCodes: []int{700016}}, false},
		{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"AADSTS50013: Assertion failed signature validation.","error_codes":[50013]}`,
			Error{StatusCode: 400, Code: "invalid_grant", Description: "AADSTS50013: Assertion failed signature validation.", ErrorCodes: []int{50013}}, false},
		{"invalid_grant_consent_required", 400, `{"error":"invalid_grant","error_description":"AADSTS65001: consent","error_codes":[65001],"suberror":"consent_required"}`,
			Error{StatusCode: 400, Code: "invalid_grant", Description: "AADSTS65001: consent", ErrorCodes: []int{65001}, Suberror: "consent_required"}, true},
		{"invalid_grant_basic_action", 400, `{"error":"invalid_grant","suberror":"basic_action"}`,
			Error{StatusCode: 400, Code: "invalid_grant", Suberror: "basic_action"}, true},
		{"interaction_required_with_claims", 400, `{"error":"interaction_required","error_description":"AADSTS50076: MFA","error_codes":[50076],"claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"p1\"]}}}"}`,
			Error{StatusCode: 400, Code: "interaction_required", Description: "AADSTS50076: MFA", ErrorCodes: []int{50076}, Claims: `{"access_token":{"capolids":{"essential":true,"values":["p1"]}}}`}, true},
		{"html_from_a_proxy", 400, `<html>Bad Request</html>`,
			Error{StatusCode: 400, Description: "response was not JSON (application/json): <html>Bad Request</html>"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, entraHosts...)
			s.handle(contosoToken, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, tt.status, tt.body) })
			lc := newLoopbackClient(t, s)
			c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client))
			_, err := clientCredentials(t, c, &testCredential{secret: "s3cret-value"})
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want an *Error", err)
			}
			got := *fe
			if got.ClientRequestID == "" {
				t.Error("ClientRequestID is empty")
			}
			got.ClientRequestID = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Error =\n%+v\nwant\n%+v", got, tt.want)
			}
			if errors.Is(err, ErrInteractionRequired) != tt.interaction || errors.Is(fmt.Errorf("wrapped: %w", err), bearer.ErrInteractionRequired) != tt.interaction {
				t.Errorf("errors.Is(err, ErrInteractionRequired) = %v, want %v", !tt.interaction, tt.interaction)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("%d attempts, want 1 (a 400 is not retried)", n)
			}
		})
	}
}

func TestClaimsAndCapabilitiesInTheForm(t *testing.T) {
	const challengeClaims = `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`
	tests := []struct {
		name   string
		caps   []string
		claims string
		want   string
	}{
		{"none", nil, "", ""},
		{"capabilities_alone", []string{"cp1"}, "", `{"access_token":{"xms_cc":{"values":["cp1"]}}}`},
		{"claims_alone", nil, challengeClaims, `{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}`},
		{"merged", []string{"cp1", "cp2"}, challengeClaims, `{"access_token":{"nbf":{"essential":true,"value":"1700000000"},"xms_cc":{"values":["cp1","cp2"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, entraHosts...)
			s.handle(contosoToken, tokenHandler("at"))
			lc := newLoopbackClient(t, s)
			c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(lc.Client), WithCapabilities(tt.caps...))
			if _, err := clientCredentials(t, c, &testCredential{secret: "s"}, Claims(tt.claims)); err != nil {
				t.Fatal(err)
			}
			form := s.requests()[0].Form
			if got := form.Get("claims"); got != tt.want {
				t.Errorf("claims = %q, want %q", got, tt.want)
			}
			if _, present := form["claims"]; present != (tt.want != "") {
				t.Errorf("claims field present = %v", present)
			}
		})
	}
	c := mustCore(t, "cid")
	if _, err := newCallConfig(Claims(`["not an object"]`)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("claims that are not an object: %v", err)
	}
	if _, err := c.claimsFor(`{`); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("broken claims: %v", err)
	}
}

func TestCallAuthority(t *testing.T) {
	c := mustCore(t, "cid", WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(refuseClient(t)))
	e, err := c.endpointsFor(context.Background(), callConfig{authority: "https://login.microsoftonline.us/fabrikam.us"})
	if err != nil || e.token != "https://login.microsoftonline.us/fabrikam.us/oauth2/v2.0/token" {
		t.Errorf("call authority: %+v, %v", e, err)
	}
	e, err = c.endpointsFor(context.Background(), callConfig{authority: "https://login.microsoftonline.us/common", tenant: "fabrikam.us"})
	if err != nil || e.authority.String() != "https://login.microsoftonline.us/fabrikam.us" {
		t.Errorf("call authority with tenant: %+v, %v", e, err)
	}
	for _, bad := range []string{"https://fs.contoso.com/adfs", "http://login.microsoftonline.com/x"} {
		if _, err := c.endpointsFor(context.Background(), callConfig{authority: bad}); !errors.Is(err, ErrInvalidAuthority) {
			t.Errorf("call authority %q: %v, want ErrInvalidAuthority", bad, err)
		}
	}
}
