package oauth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// entraDevice is Entra's v2.0 device authorization response.
const entraDevice = `{"user_code":"GQ7XK2LNP","device_code":"GAQABAAEAAAAmoFfGtYxvRrNriQdPKIZ-device-code-SECRET","verification_uri":"https://microsoft.com/devicelogin","expires_in":900,"interval":5,"message":"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code GQ7XK2LNP to authenticate."}`

func TestParseDeviceAuthorization(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, d *DeviceAuthorization)
	}{
		{"entra_v2", entraDevice, func(t *testing.T, d *DeviceAuthorization) {
			if d.UserCode != "GQ7XK2LNP" || d.VerificationURI != "https://microsoft.com/devicelogin" ||
				d.DeviceCode != "GAQABAAEAAAAmoFfGtYxvRrNriQdPKIZ-device-code-SECRET" {
				t.Errorf("parsed %+v", d)
			}
			if d.Interval != 5*time.Second || d.ExpiresIn != 15*time.Minute || !d.ExpiresOn.Equal(testNow.Add(15*time.Minute)) {
				t.Errorf("times %v %v %v", d.Interval, d.ExpiresIn, d.ExpiresOn)
			}
			if !strings.Contains(d.Message, "GQ7XK2LNP") {
				t.Errorf("message %q", d.Message)
			}
		}},
		{"entra_v1_verification_url_and_strings", `{"user_code":"ABC","device_code":"dc","verification_url":"https://microsoft.com/devicelogin","expires_in":"900","interval":"7"}`, func(t *testing.T, d *DeviceAuthorization) {
			if d.VerificationURI != "https://microsoft.com/devicelogin" || d.Interval != 7*time.Second || d.ExpiresIn != 900*time.Second {
				t.Errorf("parsed %+v", d)
			}
		}},
		{"rfc8628_complete_uri_and_no_interval", `{"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800}`, func(t *testing.T, d *DeviceAuthorization) {
			if d.Interval != DefaultDeviceInterval {
				t.Errorf("interval %v, want the default %v", d.Interval, DefaultDeviceInterval)
			}
			if d.VerificationURIComplete != "https://example.com/device?user_code=WDJB-MJHT" {
				t.Errorf("complete URI %q", d.VerificationURIComplete)
			}
			if d.Message != "To sign in, use a web browser to open the page https://example.com/device and enter the code WDJB-MJHT to authenticate." {
				t.Errorf("made-up message %q", d.Message)
			}
		}},
		{"interval_zero_means_default", `{"device_code":"d","user_code":"U","verification_uri":"https://x.example/d","expires_in":60,"interval":0}`, func(t *testing.T, d *DeviceAuthorization) {
			if d.Interval != DefaultDeviceInterval {
				t.Errorf("interval %v", d.Interval)
			}
		}},
		{"terminal_escapes_in_message_become_spaces", `{"device_code":"d","user_code":"U","verification_uri":"https://x.example/d","expires_in":60,"message":"go \u001b[2J\u001b]0;pwned\u0007 there\r\nnow"}`, func(t *testing.T, d *DeviceAuthorization) {
			if strings.ContainsAny(d.Message, "\x1b\x07\r\n") {
				t.Errorf("message keeps control characters: %q", d.Message)
			}
			if !strings.HasPrefix(d.Message, "go ") || !strings.HasSuffix(d.Message, "now") {
				t.Errorf("message %q", d.Message)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDeviceAuthorization([]byte(tc.body), testNow)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

func TestParseDeviceAuthorizationRefusesBrokenResponses(t *testing.T) {
	const ok = `"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d","expires_in":60`
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not_an_object", `[1]`},
		{"html", `<html>`},
		{"truncated", `{"device_code":"dc-SECRET-123456"`},
		{"no_device_code", `{"user_code":"U","verification_uri":"https://x.example/d","expires_in":60}`},
		{"empty_device_code", `{"device_code":"","user_code":"U","verification_uri":"https://x.example/d","expires_in":60}`},
		{"device_code_a_number", `{"device_code":5,"user_code":"U","verification_uri":"https://x.example/d","expires_in":60}`},
		{"no_user_code", `{"device_code":"dc-SECRET-123456","verification_uri":"https://x.example/d","expires_in":60}`},
		{"user_code_with_escape", `{"device_code":"dc-SECRET-123456","user_code":"U\u001b[31m","verification_uri":"https://x.example/d","expires_in":60}`},
		{"user_code_with_newline", `{"device_code":"dc-SECRET-123456","user_code":"U\nV","verification_uri":"https://x.example/d","expires_in":60}`},
		{"user_code_padded", `{"device_code":"dc-SECRET-123456","user_code":" U ","verification_uri":"https://x.example/d","expires_in":60}`},
		{"user_code_too_long", `{"device_code":"dc-SECRET-123456","user_code":"` + strings.Repeat("A", 65) + `","verification_uri":"https://x.example/d","expires_in":60}`},
		{"no_verification_uri", `{"device_code":"dc-SECRET-123456","user_code":"U","expires_in":60}`},
		{"verification_uri_javascript", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"javascript:alert(1)","expires_in":60}`},
		{"verification_uri_relative", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"/devicelogin","expires_in":60}`},
		{"verification_uri_userinfo", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://microsoft.com@evil.example/","expires_in":60}`},
		{"verification_uri_escape", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/\u001b[2J","expires_in":60}`},
		{"complete_uri_bad", `{` + ok + `,"verification_uri_complete":"file:///etc/passwd"}`},
		{"no_expires_in", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d"}`},
		{"expires_in_zero", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d","expires_in":0}`},
		{"expires_in_negative", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d","expires_in":-5}`},
		{"expires_in_two_days", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d","expires_in":172800}`},
		{"expires_in_text", `{"device_code":"dc-SECRET-123456","user_code":"U","verification_uri":"https://x.example/d","expires_in":"soon"}`},
		{"interval_an_hour", `{` + ok + `,"interval":3600}`},
		{"interval_negative", `{` + ok + `,"interval":-1}`},
		{"message_a_number", `{` + ok + `,"message":5}`},
		{"message_too_long", `{` + ok + `,"message":"` + strings.Repeat("m", 2049) + `"}`},
		{"device_code_too_long", `{"device_code":"` + strings.Repeat("d", 4097) + `","user_code":"U","verification_uri":"https://x.example/d","expires_in":60}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDeviceAuthorization([]byte(tc.body), testNow)
			if err == nil {
				t.Fatalf("accepted: %+v", d)
			}
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
			if strings.Contains(err.Error(), "dc-SECRET-123456") {
				t.Errorf("error shows the device code: %v", err)
			}
		})
	}
}

func TestParseDeviceAuthorizationErrorBody(t *testing.T) {
	_, err := ParseDeviceAuthorization([]byte(`{"error":"invalid_scope","error_description":"AADSTS70011: bad scope"}`), testNow)
	var re *ResponseError
	if !errors.As(err, &re) || re.Code != "invalid_scope" {
		t.Fatalf("error %v, want a ResponseError invalid_scope", err)
	}
}

func TestDeviceAuthorizationNeverShowsItsCodes(t *testing.T) {
	d, err := ParseDeviceAuthorization([]byte(entraDevice), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("device", "d", d, "v", *d)
	for _, s := range []string{d.String(), d.GoString(), fmt.Sprintf("%v", *d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", *d), fmt.Sprintf("%s", *d), fmt.Sprint(d)} {
		if strings.Contains(s, d.DeviceCode) || strings.Contains(s, "device-code-SECRET") {
			t.Errorf("shows the device code: %s", s)
		}
		if !strings.Contains(s, "REDACTED") {
			t.Errorf("does not say the device code is redacted: %s", s)
		}
	}
	if strings.Contains(logged.String(), "device-code-SECRET") || strings.Contains(logged.String(), d.UserCode) {
		t.Errorf("the log record shows a code: %s", logged.String())
	}
	if !strings.Contains(logged.String(), "https://microsoft.com/devicelogin") {
		t.Errorf("the log record lacks the verification URI: %s", logged.String())
	}
}

func FuzzParseDeviceAuthorization(f *testing.F) {
	f.Add([]byte(entraDevice))
	for _, s := range []string{
		`{"user_code":"ABC","device_code":"dc","verification_url":"https://microsoft.com/devicelogin","expires_in":"900","interval":"7"}`,
		`{"device_code":"d","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800}`,
		`{"device_code":"d","user_code":"U","verification_uri":"https://x.example/d","expires_in":60,"message":"\u001b[2J"}`,
		`{"error":"invalid_client"}`, `{"device_code":"d","user_code":"\u0000"}`, `[]`, ``, `{`, `{"expires_in":1e308}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseDeviceAuthorization(body, testNow)
		if err != nil {
			var re *ResponseError
			if !errors.Is(err, ErrMalformedResponse) && !errors.As(err, &re) {
				t.Fatalf("error %v is neither ErrMalformedResponse nor a ResponseError", err)
			}
			return
		}
		if d.DeviceCode == "" || d.UserCode == "" || d.VerificationURI == "" || d.Message == "" {
			t.Fatalf("accepted a response missing a field: %+v", d)
		}
		if d.Interval <= 0 || d.Interval > MaxDeviceInterval || d.ExpiresIn < time.Second || d.ExpiresIn > maxDeviceLifetime {
			t.Fatalf("times out of range: %+v", d)
		}
		if !printable(d.Message) || !printable(d.UserCode) || !printable(d.VerificationURI) {
			t.Fatalf("control characters kept: %+v", d)
		}
		if strings.Contains(d.String(), d.DeviceCode) && len(d.DeviceCode) >= 8 && !strings.Contains("REDACTED", d.DeviceCode) {
			t.Fatalf("String shows the device code")
		}
	})
}
