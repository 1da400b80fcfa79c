package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bearerhttp/bearer/internal/redact"
)

// Limits on a device authorization response's fields: anything longer is
// malformed (RFC 8628 sets none; these are far above what authorities
// send).
const (
	maxDeviceCode      = 4096
	maxUserCode        = 64
	maxVerificationURI = 2048
	maxDeviceMessage   = 2048
	// MaxDeviceInterval caps the polling interval an authority may ask
	// for (interval and each slow_down).
	MaxDeviceInterval = 5 * time.Minute
	// DefaultDeviceInterval is the polling interval when the authority
	// names none (RFC 8628 section 3.2).
	DefaultDeviceInterval = 5 * time.Second
	// maxDeviceLifetime caps expires_in: a device code lives minutes.
	maxDeviceLifetime = 24 * time.Hour
)

// DeviceAuthorization is a device authorization response (RFC 8628
// section 3.2; Entra's v1 endpoint spells verification_url). Its String,
// GoString, Format and LogValue methods never show the device code, and
// LogValue not the user code either.
type DeviceAuthorization struct {
	// DeviceCode is the code the client polls with. A secret.
	DeviceCode string
	// UserCode is the code the user enters at VerificationURI.
	UserCode string
	// VerificationURI is where the user goes; VerificationURIComplete,
	// when the authority sends it, already holds the user code.
	VerificationURI, VerificationURIComplete string
	// ExpiresIn is the device code's lifetime; ExpiresOn is the time of
	// the response plus ExpiresIn.
	ExpiresIn time.Duration
	ExpiresOn time.Time
	// Interval is the polling interval asked for, DefaultDeviceInterval
	// when none was.
	Interval time.Duration
	// Message is the authority's instruction for the user, or one made
	// from the URI and the user code when it sent none. Control
	// characters are replaced by spaces, so it can be printed to a
	// terminal.
	Message string
}

// deviceJSON is the wire form of a device authorization response.
type deviceJSON struct {
	DeviceCode              *string  `json:"device_code"`
	UserCode                *string  `json:"user_code"`
	VerificationURI         *string  `json:"verification_uri"`
	VerificationURL         *string  `json:"verification_url"`
	VerificationURIComplete *string  `json:"verification_uri_complete"`
	ExpiresIn               *seconds `json:"expires_in"`
	Interval                *seconds `json:"interval"`
	Message                 *string  `json:"message"`
	Error                   *string  `json:"error"`
}

// ParseDeviceAuthorization reads a successful device authorization
// response received at now. It fails, with an error wrapping
// [ErrMalformedResponse] that never shows the body, when the body is not
// a JSON object; a field has the wrong type; device_code, user_code,
// verification_uri (or verification_url) or expires_in is missing; a
// field is too long; the user code holds control characters or spaces at
// its ends; a verification URI is not an absolute http(s) URL; or
// expires_in or interval is out of range (expires_in 1 s to a day,
// interval at most [MaxDeviceInterval]). A body with an error field and no
// device code gives a [*ResponseError].
func ParseDeviceAuthorization(body []byte, now time.Time) (*DeviceAuthorization, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: device authorization response is not a JSON object", ErrMalformedResponse)
	}
	var w deviceJSON
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, fmt.Errorf("%w: device authorization response: %s", ErrMalformedResponse, jsonProblem(err))
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: device authorization response: "+format, append([]any{ErrMalformedResponse}, args...)...)
	}
	if w.DeviceCode == nil || *w.DeviceCode == "" {
		if w.Error != nil && *w.Error != "" {
			return nil, ParseErrorResponse(200, nil, trimmed)
		}
		return nil, bad("no device_code")
	}
	d := &DeviceAuthorization{
		DeviceCode:              *w.DeviceCode,
		UserCode:                deref(w.UserCode),
		VerificationURI:         deref(w.VerificationURI),
		VerificationURIComplete: deref(w.VerificationURIComplete),
		Message:                 deref(w.Message),
		Interval:                DefaultDeviceInterval,
	}
	if d.VerificationURI == "" {
		d.VerificationURI = deref(w.VerificationURL)
	}
	switch {
	case len(d.DeviceCode) > maxDeviceCode:
		return nil, bad("device_code longer than %d bytes", maxDeviceCode)
	case d.UserCode == "":
		return nil, bad("no user_code")
	case len(d.UserCode) > maxUserCode:
		return nil, bad("user_code longer than %d bytes", maxUserCode)
	case !printable(d.UserCode) || strings.TrimSpace(d.UserCode) != d.UserCode:
		return nil, bad("user_code has control characters or spaces at its ends")
	case d.VerificationURI == "":
		return nil, bad("no verification_uri")
	case w.ExpiresIn == nil:
		return nil, bad("no expires_in")
	case len(d.Message) > maxDeviceMessage:
		return nil, bad("message longer than %d bytes", maxDeviceMessage)
	}
	for _, u := range []string{d.VerificationURI, d.VerificationURIComplete} {
		if u != "" && !verificationURL(u) {
			return nil, bad("a verification URI is not an absolute http(s) URL without control characters")
		}
	}
	d.ExpiresIn = time.Duration(*w.ExpiresIn)
	if d.ExpiresIn < time.Second || d.ExpiresIn > maxDeviceLifetime {
		return nil, bad("expires_in is not between 1 second and %v", maxDeviceLifetime)
	}
	d.ExpiresOn = now.Add(d.ExpiresIn)
	if w.Interval != nil && *w.Interval > 0 {
		d.Interval = time.Duration(*w.Interval)
		if d.Interval > MaxDeviceInterval {
			return nil, bad("interval is over %v", MaxDeviceInterval)
		}
	}
	if !utf8.ValidString(d.Message) {
		d.Message = strings.ToValidUTF8(d.Message, "\uFFFD")
	}
	d.Message = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, d.Message))
	if d.Message == "" {
		d.Message = "To sign in, use a web browser to open the page " + d.VerificationURI + " and enter the code " + d.UserCode + " to authenticate."
	}
	return d, nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// verificationURL reports whether s is an absolute http(s) URL of a host,
// of printable characters without spaces, short enough to show.
func verificationURL(s string) bool {
	if len(s) > maxVerificationURI || !printable(s) || strings.ContainsAny(s, " \t") {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// redactedDevice has DeviceAuthorization's fields as String shows them.
type redactedDevice struct {
	DeviceCode, UserCode                     string
	VerificationURI, VerificationURIComplete string
	ExpiresIn                                time.Duration
	ExpiresOn                                time.Time
	Interval                                 time.Duration
	Message                                  string
}

func (d DeviceAuthorization) redacted() redactedDevice {
	return redactedDevice{
		DeviceCode: hide(d.DeviceCode), UserCode: d.UserCode,
		VerificationURI: d.VerificationURI, VerificationURIComplete: d.VerificationURIComplete,
		ExpiresIn: d.ExpiresIn, ExpiresOn: d.ExpiresOn, Interval: d.Interval, Message: d.Message,
	}
}

// String returns d's fields with the device code redacted.
func (d DeviceAuthorization) String() string { return redact.String(d.redacted()) }

// GoString is String, for %#v.
func (d DeviceAuthorization) GoString() string {
	return redact.GoString("oauth.DeviceAuthorization", d.redacted())
}

// Format prints d with the device code redacted, for every verb.
func (d DeviceAuthorization) Format(f fmt.State, verb rune) {
	redact.Format(f, verb, "oauth.DeviceAuthorization", d.redacted())
}

// LogValue presents d to log/slog without the device code or the user
// code (the user code is shown to the user, never logged).
func (d DeviceAuthorization) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("verification_uri", d.VerificationURI),
		slog.Time("expires_on", d.ExpiresOn),
		slog.Duration("interval", d.Interval),
	)
}
