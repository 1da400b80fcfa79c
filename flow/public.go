package flow

import (
	"fmt"
	"strings"
)

// Public is a public client application: one that cannot keep a secret,
// such as a desktop or mobile app, a command-line tool, or a single-page
// app's back end that only relays. It is MSAL's PublicClientApplication.
//
// It signs users in (through the system browser with
// [Public.AcquireTokenInteractive], with a device code with
// [Public.AcquireTokenByDeviceCode], the authorization code flow with
// PKCE, a username and password), keeps their tokens in its token cache under their
// [Account], and gets later tokens silently ([Public.AcquireTokenSilent],
// [Public.AccountSource]). It has the authorities, options, cache,
// logging and retries of [Confidential], and no credential: it never
// sends a secret or an assertion, and it cannot use the client
// credentials or on-behalf-of grants.
//
// A Public is safe for concurrent use.
type Public struct {
	*app
	forced forcedRefreshes // of its account sources' invalid_token recoveries
}

// NewPublic returns a public client application with the application
// (client) ID clientID. It fails when an option's value cannot be used
// ([ErrInvalidOption], [ErrInvalidAuthority]). [WithClientClaims] does
// not apply to a public client (it signs no assertion) and is ignored.
// Nothing is sent to the authority until the first call.
//
// Without [WithCache], the application keeps its tokens in a private
// in-memory cache.
func NewPublic(clientID string, opts ...Option) (*Public, error) {
	if strings.TrimSpace(clientID) == "" {
		return nil, fmt.Errorf("%w: the client ID is empty", ErrInvalidOption)
	}
	cfg, err := newConfig(opts...)
	if err != nil {
		return nil, err
	}
	a, err := newApp(clientID, cfg)
	if err != nil {
		return nil, err
	}
	return &Public{app: a}, nil
}

// users returns p's user flows, which authenticate with nothing.
func (p *Public) users() users { return users{app: p.app} }
