package oauth

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}`,
		`{"access_token":"a","expires_in":"3600","ext_expires_in":"7200","refresh_in":"1800"}`,
		`{"access_token":"a","token_type":"Bearer","scope":"User.Read openid profile","refresh_token":"rt","id_token":"idt","client_info":"` + clientInfo("u", "t") + `","foci":"1","expires_in":3600}`,
		`{"access_token":"a","expires_in":1e300}`,
		`{"error":"authorization_pending"}`,
		`{"access_token":"a","client_info":"***"}`,
		`[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, err := ParseTokenResponse(body, testNow)
		if err != nil {
			var re *ResponseError
			if !errors.Is(err, ErrMalformedResponse) && !errors.As(err, &re) {
				t.Fatalf("error %v is neither ErrMalformedResponse nor a ResponseError", err)
			}
			return
		}
		if tr.AccessToken == "" || tr.TokenType == "" {
			t.Fatalf("accepted a response without a token or type: %v", tr)
		}
		if tr.ExpiresIn < 0 || tr.ExpiresIn > maxLifetime || tr.RefreshIn < 0 {
			t.Fatalf("lifetime out of range: %v", tr)
		}
		if !tr.ExpiresOn.IsZero() && tr.ExpiresOn.Before(testNow) {
			t.Fatalf("ExpiresOn %v before the response", tr.ExpiresOn)
		}
		if strings.Contains(tr.String(), tr.AccessToken) && tr.AccessToken != "REDACTED" && len(tr.AccessToken) > 8 {
			t.Fatalf("String shows the access token")
		}
	})
}

func FuzzParseErrorResponse(f *testing.F) {
	f.Add(400, "application/json", []byte(entraError), "s3cr3t")
	f.Add(502, "text/html", []byte("<html>bad gateway</html>"), "")
	f.Add(429, "", []byte(`{"error":"x","error_codes":[1,"2",3.5]}`), "x")
	f.Add(500, "", []byte("\xff\xfe\x00"), "")
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte, secret string) {
		e := ParseErrorResponse(status, http.Header{"Content-Type": {contentType}, "Retry-After": {"1"}}, body, secret)
		if e.StatusCode != status {
			t.Fatalf("StatusCode = %d, want %d", e.StatusCode, status)
		}
		if len(e.Body) > maxEcho+len("…") {
			t.Fatalf("Body is %d bytes", len(e.Body))
		}
		// A secret of lower-case letters and digits cannot be rebuilt
		// from the REDACTED markers, so none may remain.
		if len(secret) >= minSecret && strings.Trim(secret, "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
			for _, field := range []string{e.Body, e.Description, e.Code, e.Claims, e.CorrelationID} {
				if strings.Contains(field, secret) {
					t.Fatalf("%q keeps the secret %q", field, secret)
				}
			}
		}
		for _, r := range e.Body + e.Description + e.Code {
			if r < 0x20 && r != '\t' {
				t.Fatalf("control character kept: %q", e.Body+e.Description)
			}
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(entraMetadata))
	f.Add([]byte(`{"token_endpoint":"http://127.0.0.1:8080/t/token"}`))
	f.Add([]byte(`{"token_endpoint":"http://evil.example/t"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMetadata(body)
		if err != nil {
			return
		}
		for _, u := range []string{m.TokenEndpoint, m.AuthorizationEndpoint, m.DeviceAuthorizationEndpoint, m.EndSessionEndpoint, m.JWKSURI} {
			if u != "" && CheckEndpoint(u) != nil {
				t.Fatalf("accepted an unsafe endpoint %q", u)
			}
		}
	})
}

func FuzzParseInstanceDiscovery(f *testing.F) {
	f.Add([]byte(instanceDiscovery))
	f.Add([]byte(`{"tenant_discovery_endpoint":"http://evil.example/x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseInstanceDiscovery(body)
		if err != nil {
			return
		}
		if CheckEndpoint(d.TenantDiscoveryEndpoint) != nil {
			t.Fatalf("accepted an unsafe endpoint %q", d.TenantDiscoveryEndpoint)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "99999999999999999999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := RetryAfter(http.Header{"Retry-After": {v}}, testNow)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("RetryAfter(%q) = %v, %v", v, d, ok)
		}
		if w := DefaultBackoff(1, &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {v}}}, testNow); w < 0 || w > maxRetryAfter {
			t.Fatalf("DefaultBackoff = %v", w)
		}
	})
}
