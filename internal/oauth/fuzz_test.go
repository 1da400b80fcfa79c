package oauth

import (
	"encoding/base64"
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
	for _, s := range realTokens {
		f.Add([]byte(s))
	}
	for _, tc := range brokenTokens {
		f.Add([]byte(tc[0]))
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
	// Managed identity endpoints' shapes: Service Fabric's, App Service's.
	f.Add(401, "application/json", []byte(`{"error":{"correlationId":"0e3c8f4b","code":"SecretHeaderNotFound","message":"Secret is not part of the header."}}`), "0e3c8f4b")
	f.Add(400, "application/json", []byte(`{"statusCode":400,"message":"No managed identity 0e3c8f4b found","correlationId":"c"}`), "0e3c8f4b")
	for _, tc := range realErrors {
		f.Add(tc.status, tc.ctype, []byte(tc.body), "0e3c8f4b")
	}
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
	for _, s := range realMetadata {
		f.Add([]byte(s))
	}
	for _, tc := range brokenMetadata {
		f.Add([]byte(tc[0]))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMetadata(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
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
	for _, s := range realInstanceDiscovery {
		f.Add([]byte(s))
	}
	for _, tc := range brokenInstanceDiscovery {
		f.Add([]byte(tc[0]))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseInstanceDiscovery(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		for _, c := range d.Metadata {
			for _, a := range c.Aliases {
				if got, ok := d.CloudOf(a); !ok || len(got.Aliases) == 0 {
					t.Fatalf("CloudOf(%q) misses a listed alias", a)
				}
			}
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

func FuzzDecodeClientInfo(f *testing.F) {
	for _, s := range []string{
		clientInfo("9f4880d8-80ba-4c40-97bc-f7a23c703084", tenantID),
		clientInfo("u", "t") + "==",
		base64.StdEncoding.EncodeToString([]byte(`{"uid":"u?>","utid":"t"}`)),
		clientInfoRaw(`{"uid":1}`), clientInfoRaw(`[]`), clientInfoRaw(`{"uid":"u"}`),
		"***", "", "e30", "=====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ci, err := DecodeClientInfo(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) || ci != (ClientInfo{}) {
				t.Fatalf("DecodeClientInfo(%q) = %+v, %v", s, ci, err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("the error quotes the input: %v", err)
			}
			return
		}
		if h := ci.HomeAccountID(); h != "" && h != ci.UID+"."+ci.UTID {
			t.Fatalf("HomeAccountID = %q for %+v", h, ci)
		}
	})
}

// FuzzScrub: whatever surrounds it, a secret echoed in any of its
// spellings leaves no copy of itself in the scrubbed text. (The secret is
// made of lower-case letters and digits, which the REDACTED marker cannot
// help spell.)
func FuzzScrub(f *testing.F) {
	f.Add("s3cr3t-value", "error: ", " was wrong", uint8(0))
	f.Add("p a+/=&%\"<é~", "<p>", "</p>", uint8(3))
	f.Add("abcd", "YWJj", "ZA==", uint8(5))
	f.Fuzz(func(t *testing.T, secret, before, after string, which uint8) {
		forms := secretSpellings(secret)
		if len(forms) == 0 {
			return
		}
		form := forms[int(which)%len(forms)]
		out := scrub(before+form+after, forms)
		if len(secret) < minSecret || strings.Trim(secret, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			return
		}
		if strings.Contains(out, secret) {
			t.Fatalf("scrub(%q) = %q keeps the secret", before+form+after, out)
		}
		if len(form) >= minSecret && !strings.Contains(out, "REDACTED") {
			t.Fatalf("scrub(%q) = %q redacted nothing", before+form+after, out)
		}
	})
}
