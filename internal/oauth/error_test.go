package oauth

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// entraError is a real-shaped Entra error response.
const entraError = `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented to use the application.","error_codes":[65001],"timestamp":"2030-01-02 03:04:05Z","trace_id":"trace-1","correlation_id":"corr-1","suberror":"consent_required","claims":"{\"access_token\":{\"capolids\":{\"essential\":true,\"values\":[\"1\"]}}}","error_uri":"https://login.microsoftonline.com/error?code=65001"}`

func TestParseErrorResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   ResponseError
	}{
		{"entra_every_field", 400, http.Header{"Content-Type": {"application/json; charset=utf-8"}}, entraError, ResponseError{
			StatusCode: 400, Code: "invalid_grant",
			Description: "AADSTS65001: The user or administrator has not consented to use the application.",
			ErrorURI:    "https://login.microsoftonline.com/error?code=65001",
			Suberror:    "consent_required", ErrorCodes: []int{65001},
			CorrelationID: "corr-1", TraceID: "trace-1", Timestamp: "2030-01-02 03:04:05Z",
			Claims:      `{"access_token":{"capolids":{"essential":true,"values":["1"]}}}`,
			ContentType: "application/json",
		}},
		{"rfc6749_minimal", 401, nil, `{"error":"invalid_client"}`, ResponseError{StatusCode: 401, Code: "invalid_client"}},
		{"retry_after_seconds", 429, http.Header{"Retry-After": {"12"}}, `{"error":"too_many"}`, ResponseError{StatusCode: 429, Code: "too_many", RetryAfter: 12 * time.Second}},
		{"retry_after_date_not_kept", 429, http.Header{"Retry-After": {"Wed, 21 Oct 2015 07:28:00 GMT"}}, `{"error":"x"}`, ResponseError{StatusCode: 429, Code: "x"}},
		{"wrong_types_left_empty", 400, nil, `{"error":42,"error_description":["x"],"error_codes":"65001","suberror":null}`, ResponseError{StatusCode: 400}},
		{"error_codes_mixed", 400, nil, `{"error":"x","error_codes":[1,"2",3.5,4]}`, ResponseError{StatusCode: 400, Code: "x", ErrorCodes: []int{1, 2, 4}}},
		{"html_body", 502, http.Header{"Content-Type": {"text/html"}}, "<html><title>502 Bad Gateway</title>\n<body>nginx</body></html>", ResponseError{
			StatusCode: 502, NotJSON: true, ContentType: "text/html",
			Body: "<html><title>502 Bad Gateway</title> <body>nginx</body></html>",
		}},
		{"empty_body", 503, nil, ``, ResponseError{StatusCode: 503, NotJSON: true}},
		{"json_array", 400, nil, `[1]`, ResponseError{StatusCode: 400, NotJSON: true, Body: "[1]"}},
		{"broken_json", 400, nil, `{"error":`, ResponseError{StatusCode: 400, NotJSON: true, Body: `{"error":`}},
		{"service_fabric_nested_error", 401, nil, `{"error":{"correlationId":"c-7","code":"SecretHeaderNotFound","message":"Secret is not part of the header."}}`,
			ResponseError{StatusCode: 401, Code: "SecretHeaderNotFound", Description: "Secret is not part of the header.", CorrelationID: "c-7"}},
		{"app_service_message", 400, nil, `{"statusCode":400,"message":"No managed identity found.","correlationId":"c-8"}`,
			ResponseError{StatusCode: 400, Description: "No managed identity found.", CorrelationID: "c-8"}},
		{"oauth_fields_win_over_message", 400, nil, `{"error":"invalid_request","error_description":"d","message":"m","correlation_id":"c1","correlationId":"c2"}`,
			ResponseError{StatusCode: 400, Code: "invalid_request", Description: "d", CorrelationID: "c1"}},
		{"nested_error_wrong_types", 500, nil, `{"error":{"code":1,"message":["x"],"correlationId":null}}`, ResponseError{StatusCode: 500}},
		{"nested_error_not_object", 500, nil, `{"error":[{"code":"x"}]}`, ResponseError{StatusCode: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseErrorResponse(tt.status, tt.header, []byte(tt.body))
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("ParseErrorResponse =\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

func TestParseErrorResponseLongBodyIsClipped(t *testing.T) {
	body := strings.Repeat("é", 500) + "\x00\x1b[31m"
	e := ParseErrorResponse(500, nil, []byte(body))
	if len(e.Body) > maxEcho+len("…") {
		t.Errorf("Body is %d bytes, want at most %d", len(e.Body), maxEcho)
	}
	if strings.ContainsAny(e.Body, "\x00\x1b") {
		t.Errorf("Body keeps control characters: %q", e.Body)
	}
	e = ParseErrorResponse(500, nil, []byte("bad\x00\x1b[2J\ntext"))
	if e.Body != "bad  [2J text" {
		t.Errorf("Body = %q", e.Body)
	}
}

func TestParseErrorResponseScrubsSecrets(t *testing.T) {
	body := `{"error":"invalid_client","error_description":"secret s3cr3t-value was wrong; assertion eyJhbGciOi.payload.sig too"}`
	e := ParseErrorResponse(401, nil, []byte(body), "s3cr3t-value", "eyJhbGciOi.payload.sig", "ab")
	mustNotContain(t, "description", e.Description, "s3cr3t-value", "eyJhbGciOi.payload.sig")
	mustNotContain(t, "error", e.Error(), "s3cr3t-value", "eyJhbGciOi.payload.sig")
	if !strings.Contains(e.Description, "REDACTED") {
		t.Errorf("Description = %q", e.Description)
	}
	e = ParseErrorResponse(500, nil, []byte("echo: s3cr3t-value"), "s3cr3t-value")
	mustNotContain(t, "body prefix", e.Error(), "s3cr3t-value")
}

func TestResponseErrorMessage(t *testing.T) {
	e := ParseErrorResponse(400, nil, []byte(entraError))
	e.StoppedRetry = 0
	msg := e.Error()
	for _, want := range []string{"400", "invalid_grant", "consent_required", "AADSTS65001", "corr-1", "trace-1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q lacks %q", msg, want)
		}
	}
	e = ParseErrorResponse(502, http.Header{"Content-Type": {"text/plain"}}, []byte("upstream down"))
	if msg := e.Error(); !strings.Contains(msg, "502") || !strings.Contains(msg, "non-JSON") || !strings.Contains(msg, "upstream down") {
		t.Errorf("Error() = %q", msg)
	}
}

func TestResponseErrorMessageWithoutCode(t *testing.T) {
	e := ParseErrorResponse(400, nil, []byte(`{"statusCode":400,"message":"No managed identity found."}`))
	if msg := e.Error(); msg != "oauth: authority answered 400 Bad Request: No managed identity found." {
		t.Errorf("Error() = %q", msg)
	}
	e = ParseErrorResponse(401, nil, []byte(`{"error":{"code":"SecretHeaderNotFound","message":"no secret","correlationId":"c-7"}}`))
	if msg := e.Error(); msg != "oauth: authority answered 401 Unauthorized: SecretHeaderNotFound: no secret [correlation_id c-7]" {
		t.Errorf("Error() = %q", msg)
	}
}

func TestManagedIdentityErrorShapesAreScrubbed(t *testing.T) {
	const secret = "identity-HEADER-secret-42"
	for _, body := range []string{
		`{"error":{"code":"SecretMismatch","message":"got identity-HEADER-secret-42","correlationId":"identity-HEADER-secret-42"}}`,
		`{"statusCode":401,"message":"header identity-HEADER-secret-42 is wrong"}`,
	} {
		e := ParseErrorResponse(401, nil, []byte(body), secretSpellings(secret)...)
		mustNotContain(t, "error", e.Error(), secret)
		mustNotContain(t, "correlation ID", e.CorrelationID, secret)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"120", 2 * time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999999", maxRetryAfter, true},
		{"86401", maxRetryAfter, true},
		{testNow.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{testNow.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second, true},
		{testNow.Add(90 * time.Second).Format(time.ANSIC), 90 * time.Second, true},
		{testNow.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"tomorrow", 0, false},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(http.Header{"Retry-After": {tt.value}}, testNow)
		if got != tt.want || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	resp := func(code int, ra string) *http.Response {
		h := http.Header{}
		if ra != "" {
			h.Set("Retry-After", ra)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	if got := DefaultBackoff(1, resp(429, "9"), testNow); got != 9*time.Second {
		t.Errorf("429 Retry-After 9: %v", got)
	}
	if got := DefaultBackoff(2, resp(504, "4"), testNow); got != 4*time.Second {
		t.Errorf("504 Retry-After 4: %v", got)
	}
	for retry := 1; retry <= 8; retry++ {
		b := min(time.Second<<(retry-1), backoffMax)
		for range 50 {
			for _, r := range []*http.Response{nil, resp(503, ""), resp(400, "9")} {
				if got := DefaultBackoff(retry, r, testNow); got < b/2 || got >= b {
					t.Fatalf("retry %d: %v, want in [%v, %v)", retry, got, b/2, b)
				}
			}
		}
	}
}
