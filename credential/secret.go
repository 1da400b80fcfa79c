package credential

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// Secret returns a [Credential] that authenticates with a client secret
// (an application password).
//
// It sends the secret as the client_secret form field, or with HTTP Basic
// authentication (RFC 6749 section 2.3.1: client ID and secret each
// form-urlencoded, joined by a colon, then base64) when the authority's
// Request.AuthMethods names client_secret_basic and not
// client_secret_post.
//
// An empty secret makes a credential that [Validate] and Apply reject with
// [ErrEmptySecret]. The secret never appears in the credential's formatted
// or logged value, which reads credential.Secret(REDACTED).
func Secret(s string) Credential {
	return &secretCredential{
		redacted: redacted{desc: "credential.Secret(REDACTED)"},
		secret:   &s,
	}
}

type secretCredential struct {
	redacted
	// secret is behind a pointer: fmt prints a pointer inside a struct
	// as an address, so even a reflective print of this struct (an
	// unexported field holding the credential, a bad verb) shows no
	// secret.
	secret *string
}

// Validate reports [ErrEmptySecret] for an empty secret.
func (c *secretCredential) Validate() error {
	if c == nil || c.secret == nil || *c.secret == "" {
		return ErrEmptySecret
	}
	return nil
}

// Apply adds the secret to form, or an Authorization header to header.
func (c *secretCredential) Apply(_ context.Context, req Request, form url.Values, header http.Header) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if !useBasic(req.AuthMethods) {
		form.Set("client_secret", *c.secret)
		return nil
	}
	if req.ClientID == "" {
		return fmt.Errorf("%w: HTTP Basic authentication needs the client ID", ErrIncompleteRequest)
	}
	userpass := url.QueryEscape(req.ClientID) + ":" + url.QueryEscape(*c.secret)
	header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(userpass)))
	return nil
}

// useBasic reports whether a secret goes in an Authorization header: only
// when the authority accepts client_secret_basic and not
// client_secret_post (the form is what MSAL sends to Entra and what most
// authorities accept).
func useBasic(methods []string) bool {
	return slices.Contains(methods, "client_secret_basic") &&
		!slices.Contains(methods, "client_secret_post")
}
