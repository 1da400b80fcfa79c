// Package credential authenticates a confidential client to an
// authority's token endpoint: with a secret, with a certificate (a signed
// JWT client assertion), or with an assertion from a callback or a file.
//
// A [Credential] learns what it needs of each token request from a
// [Request] that the caller (package flow) fills in; this package never
// imports flow.
//
// [Secret] sends a client secret in the form or with HTTP Basic
// authentication. [Certificate] signs a fresh JWT client assertion (RFC
// 7523) for every request, in the format the authority takes; its keys and
// certificates come from anywhere, or from PEM and PKCS #12 data through
// [ParseCertificates]. [Assertion] takes an assertion from a callback and
// [AssertionFile] from a file, such as a Kubernetes projected token.
//
// No credential shows what it holds: fmt and log/slog print a description
// such as credential.Secret(REDACTED), and errors never contain a secret,
// key, password or assertion.
package credential

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// AuthorityKind says what kind of authority a token request goes to; it
// decides how a certificate assertion is signed.
type AuthorityKind int

const (
	// Entra is Microsoft Entra ID, including Azure AD B2C and Entra
	// External ID (CIAM): PS256 assertions with an x5t#S256 header.
	Entra AuthorityKind = iota
	// ADFS is Active Directory Federation Services: RS256 assertions
	// with an x5t (SHA-1) header.
	ADFS
	// OIDC is any other OpenID Connect authority: assertions signed with
	// an algorithm from Request.Algorithms.
	OIDC
)

// String returns "Entra", "ADFS" or "OIDC".
func (k AuthorityKind) String() string {
	switch k {
	case Entra:
		return "Entra"
	case ADFS:
		return "ADFS"
	case OIDC:
		return "OIDC"
	}
	return "AuthorityKind(" + strconv.Itoa(int(k)) + ")"
}

// Request is what a [Credential] needs to know of one token request.
// Package flow fills it for every attempt.
type Request struct {
	// ClientID is the application (client) ID.
	ClientID string
	// Audience is the client assertion's aud: the tenant's token endpoint
	// on the authority's global host, also when the request itself goes
	// to a regional host.
	Audience string
	// TokenEndpoint is the URL the request is sent to.
	TokenEndpoint string
	// Kind is the kind of authority.
	Kind AuthorityKind
	// Algorithms are the client assertion signing algorithms the
	// authority accepts (its discovery document's
	// token_endpoint_auth_signing_alg_values_supported); empty when not
	// known.
	Algorithms []string
	// AuthMethods are the client authentication methods the authority
	// accepts (token_endpoint_auth_methods_supported); empty when not
	// known. A secret is sent with HTTP Basic authentication only when
	// the list names client_secret_basic and not client_secret_post.
	AuthMethods []string
	// ClientClaims are extra claims to add to a client assertion.
	ClientClaims map[string]any
	// Now is the time to sign assertions at and to check expiry against;
	// the zero value means time.Now().
	Now time.Time
}

// Credential authenticates a client on a token request.
//
// Apply is called once per attempt (a retried request is authenticated
// afresh) and may be called concurrently. It adds its fields to form
// (client_secret, or client_assertion_type and client_assertion) or its
// Authorization header to header. Errors it returns never contain the
// secret, key or assertion.
type Credential interface {
	Apply(ctx context.Context, req Request, form url.Values, header http.Header) error
}

// Validate reports whether c can authenticate a client at all: it returns
// [ErrNoCredential] for a nil c and otherwise the result of c's own
// Validate() error method, if it has one. The credentials of this package
// all have one: an empty [Secret] reports [ErrEmptySecret], an [Assertion]
// with a nil callback [ErrNoCallback], an [AssertionFile] with no path
// [ErrEmptyAssertion], and a [Certificate] whose certificate has expired
// since it was made [ErrCertificateExpired]. Package flow calls it when an
// application is created.
func Validate(c Credential) error {
	if c == nil {
		return ErrNoCredential
	}
	if v, ok := c.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// now returns req.Now, or the current time when it is zero.
func (req *Request) now() time.Time {
	if req.Now.IsZero() {
		return time.Now()
	}
	return req.Now
}
