package flow

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer/credential"
)

// TestEchoedClientSecretNotInErrorsOrLogs: an authority that echoes the
// client secret it received (raw, form-encoded or base64), with the
// secret sent by HTTP Basic authentication or in the form, gets no
// spelling of it into the error (Error, %+v, %#v) or the debug log with
// PII on.
func TestEchoedClientSecretNotInErrorsOrLogs(t *testing.T) {
	const core = "Vx7s3cr3tQ"
	const secret = "a " + core + "+/=&é%"
	spellings := map[string]func(string) string{
		"raw":         func(s string) string { return s },
		"form":        url.QueryEscape,
		"path":        url.PathEscape,
		"base64":      func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"base64url":   func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
		"whole_basic": func(s string) string { return "cid:" + url.QueryEscape(s) },
	}
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		for name, spell := range spellings {
			t.Run(method+"/"+name, func(t *testing.T) {
				s := newServer(t)
				s.handle("/realm/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
					writeJSON(w, 200, fmt.Sprintf(`{"issuer":"%[1]s/realm","token_endpoint":"%[1]s/realm/token","token_endpoint_auth_methods_supported":[%q]}`, s.URL, method))
				})
				s.handle("/realm/token", func(w http.ResponseWriter, r *http.Request) {
					got := r.PostFormValue("client_secret")
					if method == "client_secret_basic" {
						_, pass, ok := r.BasicAuth()
						if !ok || got != "" {
							t.Errorf("want Basic authentication only; form %v, header %q", r.PostForm, r.Header.Get("Authorization"))
						}
						got, _ = url.QueryUnescape(pass)
					}
					if got != secret {
						t.Errorf("authority got secret %q", got)
					}
					body, _ := json.Marshal(map[string]any{
						"error":             "invalid_client",
						"error_description": "AADSTS7000215: Invalid client secret provided: '" + spell(got) + "'.",
						"correlation_id":    spell(got),
					})
					writeJSON(w, 401, string(body))
				})
				var lb logBuffer
				app := mustConfidential(t, "cid", credential.Secret(secret), WithOIDCAuthority(s.URL+"/realm"),
					WithLogger(lb.logger()), WithPII(true))
				_, err := app.AcquireTokenForClient(bg(), []string{"api://x/.default"})
				if err == nil {
					t.Fatal("no error")
				}
				var fe *Error
				if !errors.As(err, &fe) || fe.Code != "invalid_client" || !strings.Contains(fe.Description, "REDACTED") {
					t.Errorf("error = %#v, want invalid_client with the secret REDACTED", err)
				}
				text := fmt.Sprintf("%s\n%v\n%+v\n%#v\n%s", err.Error(), err, err, fe, lb.String())
				if strings.Contains(text, core) {
					t.Errorf("a spelling of the secret got through:\n%s", text)
				}
				if !strings.Contains(lb.String(), "invalid_client") {
					t.Errorf("the log does not show the failed call:\n%s", lb.String())
				}
			})
		}
	}
}
