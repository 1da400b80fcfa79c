package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// echoSecret has characters that every encoding spells differently: a
// space ('+' in a form, %20 in a path), '+', '/', '=', '&', '%', '"', '<'
// and a non-ASCII letter. Its core, echoCore, survives every encoding, so
// finding echoCore anywhere means some spelling of the secret got
// through.
const (
	echoCore   = "Zq9s3cr3tK"
	echoSecret = "p " + echoCore + "+/=&%\"<é~"
)

// spellings are the ways an authority may echo a value: as sent, form-
// or path-encoded (upper- or lower-case hex), base64 in every alphabet,
// JSON- or HTML-escaped.
func spellings(v string) map[string]string {
	j, _ := json.Marshal(v)
	return map[string]string{
		"raw":             v,
		"form":            url.QueryEscape(v),
		"form_lower_hex":  lowerHexEscapes(url.QueryEscape(v)),
		"path":            url.PathEscape(v),
		"base64":          base64.StdEncoding.EncodeToString([]byte(v)),
		"base64_raw":      base64.RawStdEncoding.EncodeToString([]byte(v)),
		"base64url":       base64.URLEncoding.EncodeToString([]byte(v)),
		"base64url_raw":   base64.RawURLEncoding.EncodeToString([]byte(v)),
		"json_escaped":    strings.Trim(string(j), `"`),
		"html_escaped":    html.EscapeString(v),
		"basic_userpass":  base64.StdEncoding.EncodeToString([]byte("cid:" + url.QueryEscape(v))),
		"basic_form_pass": url.QueryEscape(url.QueryEscape(v)),
	}
}

func lowerHexEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// TestEchoedSecretIsScrubbedInEverySpelling: an authority that echoes the
// client secret (in any spelling) in its error response, with the secret
// sent by HTTP Basic authentication or in the form, gets no spelling of
// it into the error's text, its %+v or %#v, or the debug log.
func TestEchoedSecretIsScrubbedInEverySpelling(t *testing.T) {
	basic := func(_ context.Context, _ url.Values, h http.Header) error {
		// RFC 6749 2.3.1, as credential.Secret sends it.
		userpass := url.QueryEscape("cid") + ":" + url.QueryEscape(echoSecret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userpass)))
		return nil
	}
	post := func(_ context.Context, form url.Values, _ http.Header) error {
		form.Set("client_secret", echoSecret)
		return nil
	}
	for authName, auth := range map[string]func(context.Context, url.Values, http.Header) error{"basic": basic, "form": post} {
		for name, spelled := range spellings(echoSecret) {
			if authName == "form" && strings.HasPrefix(name, "basic_") {
				continue // spellings of a header that was not sent
			}
			for _, shape := range []string{"json_description", "json_other_fields", "html_body", "retried_503"} {
				t.Run(authName+"/"+name+"/"+shape, func(t *testing.T) {
					var steps []step
					switch shape {
					case "json_description":
						steps = []step{func(w http.ResponseWriter, _ *http.Request) {
							body, _ := json.Marshal(map[string]any{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided: " + spelled + "."})
							writeJSON(w, 401, string(body))
						}}
					case "json_other_fields":
						steps = []step{func(w http.ResponseWriter, _ *http.Request) {
							body, _ := json.Marshal(map[string]any{"error": "x " + spelled, "suberror": spelled, "claims": spelled, "error_uri": "https://e/?s=" + spelled, "correlation_id": spelled, "trace_id": spelled, "timestamp": spelled})
							writeJSON(w, 400, string(body))
						}}
					case "html_body":
						steps = []step{func(w http.ResponseWriter, _ *http.Request) {
							w.Header().Set("Content-Type", "text/html")
							w.WriteHeader(400)
							fmt.Fprintf(w, "<p>%s</p>", spelled)
						}}
					case "retried_503":
						steps = []step{func(w http.ResponseWriter, _ *http.Request) {
							w.WriteHeader(503)
							fmt.Fprint(w, spelled)
						}, func(w http.ResponseWriter, _ *http.Request) {
							w.WriteHeader(503)
							fmt.Fprint(w, spelled)
						}, func(w http.ResponseWriter, _ *http.Request) {
							w.WriteHeader(503)
							fmt.Fprint(w, spelled)
						}}
					}
					srv := newAuthority(t, steps...)
					var lb logBuffer
					var sl sleeps
					c := testClient(&sl)
					c.Logger = lb.logger()
					_, err := c.Token(context.Background(), &Request{URL: srv.URL + "/t/oauth2/v2.0/token", Form: ClientCredentialsForm("cid", []string{"api://x/.default"}, ""), Authenticate: auth})
					if err == nil {
						t.Fatal("no error")
					}
					text := err.Error() + "\n" + fmt.Sprintf("%v\n%+v\n%#v", err, err, err) + "\n" + lb.String()
					if strings.Contains(text, echoCore) {
						t.Errorf("the secret (%s spelling %q) got through:\n%s", name, spelled, text)
					}
					if !strings.Contains(text, "REDACTED") {
						t.Errorf("nothing was redacted; did the authority echo?\n%s", text)
					}
				})
			}
		}
	}
}

func TestSecretSpellings(t *testing.T) {
	forms := secretSpellings(echoSecret)
	for name, want := range spellings(echoSecret) {
		if name == "basic_userpass" || name == "basic_form_pass" {
			continue // spellings of the header, added by secretsOf
		}
		found := false
		for _, f := range forms {
			found = found || f == want
		}
		if !found {
			t.Errorf("secretSpellings lacks the %s spelling %q", name, want)
		}
	}
	// Longest first, so a spelling that holds another is replaced whole.
	for i := 1; i < len(forms); i++ {
		if len(forms[i]) > len(forms[i-1]) {
			t.Errorf("spellings not longest first: %q", forms)
		}
	}
}
