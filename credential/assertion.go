package credential

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// AssertionRequest tells an [Assertion] callback what the assertion is
// for.
type AssertionRequest struct {
	// ClientID is the application (client) ID: the assertion's iss and
	// sub for a self-signed assertion.
	ClientID string
	// TokenEndpoint is the assertion's audience (aud): the tenant's token
	// endpoint on the authority's global host.
	TokenEndpoint string
	// Kind is the kind of authority the assertion goes to.
	Kind AuthorityKind
	// Algorithms are the signing algorithms the authority accepts, when
	// known (see [Request]).
	Algorithms []string
	// ClientClaims are extra claims the application asked to add.
	ClientClaims map[string]any
	// Now is the time the token request is made at.
	Now time.Time
}

// Assertion returns a [Credential] that authenticates with a client
// assertion from fn, called on every Apply (every attempt of every token
// request): a federated credential (a token from another identity
// provider, such as a workload identity token) or an assertion signed
// elsewhere (a KMS or an HSM). fn is expected to cache what is costly to
// get and to return an assertion valid for a while yet.
//
// An error from fn is returned wrapped; an empty assertion is
// [ErrEmptyAssertion]. A nil fn makes a credential that [Validate] and
// Apply reject with [ErrNoCallback].
func Assertion(fn func(ctx context.Context, req AssertionRequest) (string, error)) Credential {
	return &assertionCredential{redacted: redacted{desc: "credential.Assertion(callback)"}, fn: fn}
}

type assertionCredential struct {
	redacted
	fn func(ctx context.Context, req AssertionRequest) (string, error)
}

// Validate reports [ErrNoCallback] for a nil callback.
func (c *assertionCredential) Validate() error {
	if c == nil || c.fn == nil {
		return ErrNoCallback
	}
	return nil
}

// Apply calls the callback and adds its assertion to form.
func (c *assertionCredential) Apply(ctx context.Context, req Request, form url.Values, _ http.Header) error {
	if err := c.Validate(); err != nil {
		return err
	}
	tok, err := c.fn(ctx, AssertionRequest{
		ClientID:      req.ClientID,
		TokenEndpoint: req.Audience,
		Kind:          req.Kind,
		Algorithms:    req.Algorithms,
		ClientClaims:  req.ClientClaims,
		Now:           req.now(),
	})
	if err != nil {
		return fmt.Errorf("credential: assertion callback: %w", err)
	}
	if tok == "" {
		return fmt.Errorf("%w: the callback returned none", ErrEmptyAssertion)
	}
	setAssertion(form, tok)
	return nil
}

// setAssertion adds a client assertion to form.
func setAssertion(form url.Values, tok string) {
	form.Set("client_assertion_type", JWTBearer)
	form.Set("client_assertion", tok)
}
