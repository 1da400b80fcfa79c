package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ResponseError is an authority's error response (RFC 6749 section 5.2,
// with Entra's extra fields), or any non-2xx response.
type ResponseError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the error field, such as invalid_grant; empty when the body
	// was not a JSON error.
	Code string
	// Description is error_description, scrubbed of the request's secrets.
	Description string
	// ErrorURI is error_uri.
	ErrorURI string
	// Suberror is Entra's suberror, such as consent_required.
	Suberror string
	// ErrorCodes are Entra's error_codes (AADSTS numbers).
	ErrorCodes []int
	// CorrelationID, TraceID and Timestamp are Entra's correlation_id,
	// trace_id and timestamp.
	CorrelationID, TraceID, Timestamp string
	// Claims is the claims challenge of an interaction_required error.
	Claims string
	// ClientRequestID is the client-request-id the request was sent with.
	ClientRequestID string
	// RetryAfter is the response's Retry-After in delay-seconds, 0 when
	// absent or a date.
	RetryAfter time.Duration
	// StoppedRetry, when not zero, is the wait a retry would have needed
	// when the call gave up because that wait would pass the deadline.
	StoppedRetry time.Duration
	// NotJSON is true when the body was not a JSON object; Body then holds
	// a short, sanitized prefix of it and ContentType its media type.
	NotJSON     bool
	Body        string
	ContentType string
}

// Error describes the error: status, code, suberror, description and the
// IDs support needs, never a secret.
func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "oauth: authority answered %d", e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	var code, suberror, description string
	if e.NotJSON {
		fmt.Fprintf(&b, " with a non-JSON body (%s)", orNone(e.ContentType))
		if e.Body != "" {
			fmt.Fprintf(&b, ": %q", e.Body)
		}
	} else if e.Code != "" {
		b.WriteString(": ")
		code, suberror, description = e.Code, e.Suberror, e.Description
	} else {
		description = e.Description // a shape without an error code (App Service's)
	}
	WriteErrorFields(&b, code, suberror, description, e.CorrelationID, e.TraceID)
	if e.StoppedRetry > 0 {
		fmt.Fprintf(&b, " (not retried: Retry-After %s passes the deadline)", e.StoppedRetry)
	}
	return b.String()
}

// WriteErrorFields writes the fields of an authority's error to b as the
// errors of this package and of flow show them: code, then
// " (suberror …)", ": description", " [correlation_id …]" and
// " [trace_id …]", each only when not empty.
func WriteErrorFields(b *strings.Builder, code, suberror, description, correlationID, traceID string) {
	b.WriteString(code)
	if suberror != "" {
		b.WriteString(" (suberror " + suberror + ")")
	}
	if description != "" {
		b.WriteString(": " + description)
	}
	if correlationID != "" {
		b.WriteString(" [correlation_id " + correlationID + "]")
	}
	if traceID != "" {
		b.WriteString(" [trace_id " + traceID + "]")
	}
}

// or returns a, or b when a is empty.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orNone(s string) string {
	if s == "" {
		return "no content type"
	}
	return s
}

// maxEcho is how much of a non-JSON error body an error shows.
const maxEcho = 128

// maxField caps each text field of an error response.
const maxField = 4096

// ParseErrorResponse reads an error response. It never fails: a body that
// is not a JSON object gives a ResponseError with NotJSON set and a
// sanitized prefix of the body; fields of the wrong type are left empty.
// Every value in secrets is removed from the text kept.
func ParseErrorResponse(status int, header http.Header, body []byte, secrets ...string) *ResponseError {
	e := &ResponseError{StatusCode: status}
	if header != nil {
		if d, ok := RetryAfter(header, time.Time{}); ok && isDigits(header.Get("Retry-After")) {
			e.RetryAfter = d
		}
		if mt, _, err := mime.ParseMediaType(header.Get("Content-Type")); err == nil {
			e.ContentType = mt
		}
	}
	var raw map[string]json.RawMessage
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &raw) != nil {
		e.NotJSON = true
		e.Body = sanitize(scrub(string(body), secrets), maxEcho)
		return e
	}
	strIn := func(m map[string]json.RawMessage, k string) string {
		var s string
		if v, ok := m[k]; ok && json.Unmarshal(v, &s) == nil {
			return sanitize(scrub(s, secrets), maxField)
		}
		return ""
	}
	str := func(k string) string { return strIn(raw, k) }
	e.Code = str("error")
	e.Description = str("error_description")
	e.ErrorURI = str("error_uri")
	e.Suberror = str("suberror")
	e.CorrelationID = str("correlation_id")
	e.TraceID = str("trace_id")
	e.Timestamp = str("timestamp")
	e.Claims = str("claims")
	// Managed identity endpoints answer in shapes of their own: Service
	// Fabric's (and Microsoft Graph's) {"error":{"code","message",
	// "correlationId"}}, App Service's {"statusCode","message",
	// "correlationId"}.
	var nested map[string]json.RawMessage
	if v, ok := raw["error"]; ok && e.Code == "" && json.Unmarshal(v, &nested) == nil {
		e.Code = strIn(nested, "code")
		e.Description = or(e.Description, strIn(nested, "message"))
		e.CorrelationID = or(e.CorrelationID, strIn(nested, "correlationId"))
	}
	e.Description = or(e.Description, str("message"))
	e.CorrelationID = or(e.CorrelationID, str("correlationId"))
	if v, ok := raw["error_codes"]; ok {
		var codes []json.Number
		if json.Unmarshal(v, &codes) == nil {
			for _, c := range codes {
				if n, err := strconv.Atoi(c.String()); err == nil {
					e.ErrorCodes = append(e.ErrorCodes, n)
				}
			}
		}
	}
	return e
}

func isDigits(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sanitize keeps at most max bytes of s, with control characters and
// invalid UTF-8 replaced, so server text cannot forge log lines.
func sanitize(s string, max int) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

// minSecret is the shortest value scrub removes (shorter ones would
// mangle ordinary text and are not worth hiding).
const minSecret = 4

// secretSpellings returns the ways an authority might echo the secret v,
// longest first, without duplicates: as sent; form-encoded (as in a
// request body, and as HTTP Basic authentication encodes the client ID
// and secret before base64) and path-encoded, with upper- or lower-case
// hex digits; base64 in the standard and URL alphabets, padded or not;
// escaped for a JSON string or for HTML.
func secretSpellings(v string) []string {
	if v == "" {
		return nil
	}
	j, _ := json.Marshal(v)
	q, p := url.QueryEscape(v), url.PathEscape(v)
	b := []byte(v)
	out := []string{
		v, q, lowerHex(q), p, lowerHex(p),
		base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		strings.Trim(string(j), `"`), html.EscapeString(v),
	}
	return longestFirst(out)
}

// longestFirst sorts secrets longest first and drops duplicates, so that
// [scrub] replaces a spelling that holds another one whole.
func longestFirst(secrets []string) []string {
	slices.SortStableFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(secrets)
}

// lowerHex returns s with the hex digits of its %XX escapes in lower case.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if 'A' <= b[j] && b[j] <= 'F' {
					b[j] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

// scrub replaces every secret in s with REDACTED. secrets should be
// longest first (see [longestFirst]).
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= minSecret {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	return s
}

// scrubErr returns err's text without secrets.
func scrubErr(err error, secrets []string) string {
	return scrub(err.Error(), secrets)
}

// scrubbedError is an error whose text had secrets removed; it still
// unwraps to the original errors for errors.Is and errors.As.
type scrubbedError struct {
	msg  string
	errs []error
}

func (e *scrubbedError) Error() string   { return e.msg }
func (e *scrubbedError) Unwrap() []error { return e.errs }
