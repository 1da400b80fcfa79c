package flow

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// TestLogsHoldNoSecret runs token requests of every grant, with retries,
// errors that echo the request, discovery and region detection, logging at
// debug level with PII on, and looks for every secret the test used in the
// log and in the errors.
func TestLogsHoldNoSecret(t *testing.T) {
	const (
		secret        = "client-secret-9f8e7d"
		userAssertion = "user-assertion-eyJ0eXAi"
		refreshToken  = "refresh-token-0.AXEA"
		code          = "authorization-code-M.R3_BAY"
		password      = "p@ssw0rd-hunter2"
		verifier      = "pkce-verifier-abcdef"
		accessToken   = "access-token-eyJhbGciOi"
		idToken       = "id-token-eyJraWQi"
	)
	s := newServer(t)
	var n atomic.Int64
	s.handle("/t1/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch n.Add(1) % 4 {
		case 1: // an authority that echoes everything it got
			writeJSON(w, 400, fmt.Sprintf(`{"error":"invalid_request","error_description":%q}`, "you sent "+string(body)))
		case 2:
			w.WriteHeader(503)
			w.Write(body)
		default:
			writeJSON(w, 200, fmt.Sprintf(`{"access_token":%q,"refresh_token":%q,"id_token":%q,"expires_in":3600,"client_info":%q}`,
				accessToken, refreshToken, idToken, base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"user-oid","utid":"user-tid"}`))))
		}
	})
	s.handle("/t1/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, metadataDoc(s.URL+"/t1", s.URL+"/t1/v2.0"))
	})
	s.handle(imdsPath, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "westus2") })
	var lb logBuffer
	var sl sleeps
	c := mustCore(t, "cid", WithAuthority(s.URL+"/t1"), WithValidateAuthority(false), WithLogger(lb.logger()), WithPII(true),
		WithRetryPolicy(RetryPolicy{Sleep: sl.sleep}), WithRegion(AutoDetectRegion), WithRegionEndpoint(s.URL), env(nil),
		WithCapabilities("cp1"))
	ep, err := c.endpointsFor(context.Background(), callConfig{})
	if err != nil {
		t.Fatal(err)
	}
	secretCred := &testCredential{secret: secret}
	assertionCred := &testCredential{secret: "client-assertion-jwt", assertion: true}
	scopes := oauth.UserScopes([]string{"User.Read"}, nil)
	forms := []url.Values{
		oauth.ClientCredentialsForm("cid", []string{"api://x/.default"}, ""),
		oauth.OnBehalfOfForm("cid", scopes, userAssertion, ""),
		oauth.RefreshTokenForm("cid", scopes, refreshToken, ""),
		oauth.AuthCodeForm("cid", scopes, code, "http://localhost/cb", verifier, ""),
		oauth.PasswordForm("cid", scopes, "ann@contoso.com", password, ""),
		oauth.DeviceCodeForm("cid", scopes, "device-code-GAQABAAE", ""),
	}
	var texts []string
	for i := range 3 {
		for _, f := range forms {
			cred := secretCred
			if i == 1 {
				cred = assertionCred
			}
			tok, err := c.redeem(context.Background(), tokenRequest{endpoints: ep, form: f, cred: cred})
			if err != nil {
				texts = append(texts, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
			} else {
				texts = append(texts, fmt.Sprint(tok), fmt.Sprintf("%+v %#v", tok, *tok))
			}
		}
	}
	log := lb.String()
	secrets := []string{secret, userAssertion, refreshToken, code, password, verifier, accessToken, idToken,
		"client-assertion-jwt", "device-code-GAQABAAE", url.QueryEscape(password)}
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the secret %q", s)
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("an error or formatted value holds the secret %q: %s", s, text)
			}
		}
	}
	for _, want := range []string{"flow: token request", "flow: token received", "will retry", "flow: token request failed", "home_account_id=user-oid.user-tid", "region"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", log)
	}
}

func TestPIIOnlyInPIIMode(t *testing.T) {
	s := newServer(t)
	s.handle("/t1/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fmt.Sprintf(`{"access_token":"a","expires_in":3600,"client_info":%q}`,
			base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"user-oid","utid":"user-tid"}`))))
	})
	ep := &endpoints{authority: authority{kind: kindEntra, scheme: "http", host: "x", tenant: "t1", path: "/t1"}, token: s.URL + "/t1/oauth2/v2.0/token"}
	for _, pii := range []bool{false, true} {
		var lb logBuffer
		c := mustCore(t, "cid", WithLogger(lb.logger()), WithPII(pii))
		if _, err := c.redeem(context.Background(), tokenRequest{endpoints: ep, form: oauth.RefreshTokenForm("cid", nil, "rt", "")}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(lb.String(), "user-oid"); got != pii {
			t.Errorf("PII %v: the log shows the user's object ID: %v\n%s", pii, got, lb.String())
		}
	}
}
