package flow

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/oauth"
)

func TestErrorInteractionRequired(t *testing.T) {
	tests := []struct {
		code, suberror string
		want           bool
	}{
		{"interaction_required", "", true},
		{"login_required", "", true},
		{"consent_required", "", true},
		{"invalid_grant", "consent_required", true},
		{"invalid_grant", "basic_action", true},
		{"invalid_grant", "additional_action", true},
		{"invalid_grant", "message_only", true},
		{"invalid_grant", "user_password_expired", true},
		{"invalid_grant", "", false},
		{"invalid_grant", "bad_token", false},
		{"invalid_grant", "client_mismatch", false},
		{"invalid_client", "", false},
		{"invalid_scope", "", false},
		{"unauthorized_client", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		e := &Error{StatusCode: 400, Code: tt.code, Suberror: tt.suberror}
		if got := e.InteractionRequired(); got != tt.want {
			t.Errorf("%s/%s: InteractionRequired = %v, want %v", tt.code, tt.suberror, got, tt.want)
		}
		wrapped := fmt.Errorf("acquire: %w", e)
		if errors.Is(wrapped, ErrInteractionRequired) != tt.want || errors.Is(wrapped, bearer.ErrInteractionRequired) != tt.want {
			t.Errorf("%s/%s: errors.Is(ErrInteractionRequired) != %v", tt.code, tt.suberror, tt.want)
		}
		if errors.Is(wrapped, ErrInvalidOption) {
			t.Errorf("%s/%s matches an unrelated sentinel", tt.code, tt.suberror)
		}
	}
	if ErrInteractionRequired != bearer.ErrInteractionRequired {
		t.Error("flow.ErrInteractionRequired is not bearer.ErrInteractionRequired")
	}
}

func TestErrorMessage(t *testing.T) {
	e := &Error{StatusCode: 400, Code: "invalid_grant", Suberror: "consent_required", Description: "AADSTS65001: no consent",
		CorrelationID: "corr", TraceID: "trace", ErrorCodes: []int{65001}, Claims: `{"x":1}`}
	msg := e.Error()
	for _, want := range []string{"400", "invalid_grant", "consent_required", "AADSTS65001: no consent", "corr", "trace"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q lacks %q", msg, want)
		}
	}
	if got := (&Error{StatusCode: 502}).Error(); got != "flow: authority error 502" {
		t.Errorf("bare Error() = %q", got)
	}
}

func TestErrorFromResponse(t *testing.T) {
	body := `{"error":"invalid_client","error_description":"bad secret s3cret-value","error_codes":[7000215],"suberror":"x","correlation_id":"c","trace_id":"t","timestamp":"ts","claims":"{}"}`
	re := oauth.ParseErrorResponse(401, http.Header{}, []byte(body), "s3cret-value")
	re.ClientRequestID = "rid"
	err := errorFromResponse(fmt.Errorf("wrapped: %w", re))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errorFromResponse = %T %v", err, err)
	}
	want := Error{StatusCode: 401, Code: "invalid_client", Description: "bad secret REDACTED", ErrorCodes: []int{7000215},
		Suberror: "x", CorrelationID: "c", TraceID: "t", Timestamp: "ts", Claims: "{}", ClientRequestID: "rid"}
	if fmt.Sprint(*e) != fmt.Sprint(want) {
		t.Errorf("Error =\n%+v\nwant\n%+v", *e, want)
	}
	other := errors.New("dial tcp: refused")
	if got := errorFromResponse(other); got != other {
		t.Errorf("errorFromResponse changed a non-response error: %v", got)
	}
	re = oauth.ParseErrorResponse(429, http.Header{"Content-Type": {"text/plain"}}, []byte("slow down"))
	re.StoppedRetry = 60e9
	err = errorFromResponse(re)
	if !errors.As(err, &e) || !strings.Contains(e.Description, "slow down") || !strings.Contains(e.Description, "1m0s") || !strings.Contains(e.Description, "text/plain") {
		t.Errorf("non-JSON error = %v", err)
	}
}
