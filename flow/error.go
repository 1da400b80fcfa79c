package flow

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrInteractionRequired is wrapped by (or matched by) the error of a
// call that only a signed-in user can satisfy. It is
// [bearer.ErrInteractionRequired], so errors.Is works with either name.
var ErrInteractionRequired = bearer.ErrInteractionRequired

var (
	// ErrInvalidOption is wrapped by the error of a constructor or call
	// given an option value it cannot use (a bad region name, claims that
	// are not a JSON object, an endpoint that is not https…).
	ErrInvalidOption = errors.New("flow: invalid option")
	// ErrInvalidAuthority is wrapped by the error for an authority URL
	// that cannot be used; the error says which check failed.
	ErrInvalidAuthority = errors.New("flow: invalid authority")
	// ErrUnknownAuthority is wrapped by the error for an Entra authority
	// host that instance discovery does not recognise (invalid_instance).
	// Turn validation off with WithValidateAuthority(false) for a host
	// you trust.
	ErrUnknownAuthority = errors.New("flow: unknown authority host")
	// ErrDiscovery is wrapped by the error for an authority whose
	// endpoints could not be discovered (network failure, an error
	// status, a malformed document).
	ErrDiscovery = errors.New("flow: authority discovery failed")
	// ErrTenantNotSupported is wrapped by the error of a call whose
	// [Tenant] cannot apply: the authority has no tenants (B2C, ADFS,
	// OIDC), the tenant is not a specific one, or the application's
	// authority is consumers.
	ErrTenantNotSupported = errors.New("flow: tenant not supported")
	// ErrResponseTooLarge is wrapped by the error for an authority
	// response over 1 MiB.
	ErrResponseTooLarge = oauth.ErrResponseTooLarge
	// ErrMalformedResponse is wrapped by the error for a successful
	// response that cannot be read.
	ErrMalformedResponse = oauth.ErrMalformedResponse
	// ErrRedirect is wrapped by the error of a call to the authority that
	// answered with a redirect that is not followed: to another origin
	// (scheme, host and port), to plain http, or of a token request (a
	// secret, assertion, code or refresh token goes to the endpoint that
	// was resolved, nowhere else). A GET (discovery, keys) may follow a
	// redirect that stays on its https origin.
	ErrRedirect = oauth.ErrRedirect
)

// Error is an authority's error response, field by field. Errors returned
// by this package wrap it: use errors.As. It matches
// [ErrInteractionRequired] with errors.Is when only a user can resolve it
// (see [Error.InteractionRequired]).
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the OAuth error code (error), such as invalid_client,
	// invalid_grant, invalid_scope, unauthorized_client or
	// interaction_required; empty when the body was not a JSON error.
	Code string
	// Description is error_description; for a body that was not JSON, a
	// short sanitized prefix of it. Any secret the request carried is
	// replaced by REDACTED.
	Description string
	// Suberror is Entra's suberror, such as consent_required or
	// basic_action.
	Suberror string
	// CorrelationID and TraceID identify the request to Entra's support.
	CorrelationID, TraceID string
	// Claims is the claims challenge that came with the error (Entra's
	// claims field), to be passed back with [Claims] by an application
	// that can get the user through it.
	Claims string
	// ErrorCodes are Entra's error codes (AADSTS numbers).
	ErrorCodes []int
	// Timestamp is Entra's timestamp of the error.
	Timestamp string
	// ClientRequestID is the client-request-id the request was sent with.
	ClientRequestID string
}

// Error describes the error with its status, code, suberror, description
// and correlation and trace IDs. It holds no secret.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "flow: authority error %d", e.StatusCode)
	if e.Code != "" {
		b.WriteByte(' ')
	}
	oauth.WriteErrorFields(&b, e.Code, e.Suberror, e.Description, e.CorrelationID, e.TraceID)
	return b.String()
}

// interactionCodes are the error codes only a user can resolve (OpenID
// Connect Core 3.1.2.6, as MSAL classifies them).
var interactionCodes = []string{"interaction_required", "login_required", "consent_required"}

// interactionSuberrors are Entra's suberrors that send the user to the
// sign-in page, whatever the error code (invalid_grant usually): the
// list MSAL.js and MSAL.NET share.
var interactionSuberrors = []string{"consent_required", "basic_action", "additional_action", "message_only", "user_password_expired"}

// InteractionRequired reports whether only a signed-in user can resolve
// the error: its code is interaction_required, login_required or
// consent_required, or its suberror is consent_required, basic_action,
// additional_action, message_only or user_password_expired. A plain
// invalid_grant does not count (it also covers expired or malformed
// assertions); the flows that redeem a user's refresh token wrap
// [ErrInteractionRequired] themselves when the authority rejects it.
func (e *Error) InteractionRequired() bool {
	for _, c := range interactionCodes {
		if e.Code == c {
			return true
		}
	}
	for _, s := range interactionSuberrors {
		if e.Suberror == s {
			return true
		}
	}
	return false
}

// Is reports whether target is [ErrInteractionRequired] and the error
// needs a user.
func (e *Error) Is(target error) bool {
	return target == ErrInteractionRequired && e.InteractionRequired()
}

// errorFromResponse converts an authority's error response in err's chain
// into an [*Error]; other errors are returned as they are.
func errorFromResponse(err error) error {
	var re *oauth.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	e := &Error{
		StatusCode:      re.StatusCode,
		Code:            re.Code,
		Description:     re.Description,
		Suberror:        re.Suberror,
		CorrelationID:   re.CorrelationID,
		TraceID:         re.TraceID,
		Claims:          re.Claims,
		ErrorCodes:      re.ErrorCodes,
		Timestamp:       re.Timestamp,
		ClientRequestID: re.ClientRequestID,
	}
	if re.NotJSON {
		e.Description = "response was not JSON (" + orUnknown(re.ContentType) + ")"
		if re.Body != "" {
			e.Description += ": " + re.Body
		}
	}
	if re.StoppedRetry > 0 {
		e.Description += fmt.Sprintf(" (not retried: the wait of %s asked for passes the deadline)", re.StoppedRetry)
	}
	return e
}

func orUnknown(s string) string {
	if s == "" {
		return "no content type"
	}
	return s
}
