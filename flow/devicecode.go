package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// Errors that end a device code sign-in ([Public.AcquireTokenByDeviceCode]).
// Each error returned wraps one of them and the authority's [*Error].
var (
	// ErrDeviceCodeExpired: the device code expired (expired_token)
	// before the user signed in. Start again for a new code.
	ErrDeviceCodeExpired = errors.New("flow: the device code expired before the user signed in")
	// ErrAuthorizationDeclined: the user declined the sign-in
	// (authorization_declined, or RFC 8628's access_denied).
	ErrAuthorizationDeclined = errors.New("flow: the user declined the sign-in")
	// ErrBadVerificationCode: the authority does not know the device code
	// (bad_verification_code).
	ErrBadVerificationCode = errors.New("flow: the authority does not recognise the device code")
)

// slowDownStep is what a slow_down answer adds to the polling interval
// (RFC 8628 section 3.5).
const slowDownStep = 5 * time.Second

// DeviceCode is what a user needs to sign in on another device, from the
// authority's device authorization response (RFC 8628 section 3.2):
// [Public.AcquireTokenByDeviceCode] gives it to its callback before it
// starts polling. Show Message (or the URI and the user code) to the
// user.
//
// It holds no secret: the device code the application polls with stays
// inside the call. The user code is for the user's eyes: LogValue leaves
// it (and Message, which holds it) out.
type DeviceCode struct {
	// UserCode is the code the user enters at VerificationURI.
	UserCode string
	// VerificationURI is the page where the user enters the code, such as
	// https://microsoft.com/devicelogin.
	VerificationURI string
	// VerificationURIComplete, when the authority sends one, is the page
	// with the user code already filled in (for a QR code); often empty.
	VerificationURIComplete string
	// ExpiresOn is when the code expires, on the application's clock
	// ([WithClock]): polling stops then with [ErrDeviceCodeExpired].
	ExpiresOn time.Time
	// Interval is the polling interval the authority asked for (5 s when
	// it named none); a slow_down answer adds 5 s to it.
	Interval time.Duration
	// Message is the authority's instruction for the user (Entra's is
	// localised), without control characters, so it can be printed to a
	// terminal as it is.
	Message string
}

// LogValue presents d to log/slog without the user code and the message.
func (d DeviceCode) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("verification_uri", d.VerificationURI),
		slog.Time("expires_on", d.ExpiresOn),
		slog.Duration("interval", d.Interval),
	)
}

// AcquireTokenByDeviceCode signs a user in with a device code (RFC 8628),
// as MSAL's initiate_device_flow and acquire_token_by_device_flow: for a
// program without a browser (a terminal over SSH, a container, a TV), the
// user signs in on another device.
//
// It asks the authority's device authorization endpoint for a code for
// scopes (openid, offline_access and profile are added, see
// [WithExcludeScopes]; none to only sign in), gives callback the
// [DeviceCode] to show to the user, then polls the token endpoint every
// Interval until the user signs in. An error from callback ends the call
// before polling. Polling honours slow_down (the interval grows by 5 s,
// up to 5 minutes) and stops with an error wrapping
// [ErrDeviceCodeExpired] when the code expires (or the authority says
// expired_token), [ErrAuthorizationDeclined] when the user declines,
// [ErrBadVerificationCode], the context's error when ctx ends (use a
// deadline or cancel it to give up sooner), or the authority's [*Error]
// for any other error. The authority's error ([*Error]) is wrapped too.
//
// The ID token is verified (see [IDTokenError]) and the tokens are
// cached under the user's [Account], which the Result carries, as for
// AcquireTokenByAuthCodeFlow. The device code is never logged or put in
// an error, and neither is the user code. [Claims], [Tenant] and
// [Authority] apply; any other option fails with [ErrInvalidOption]. An
// authority without a device authorization endpoint (B2C) gives an error
// wrapping [ErrUnsupported].
func (p *Public) AcquireTokenByDeviceCode(ctx context.Context, scopes []string, callback func(context.Context, DeviceCode) error, opts ...CallOption) (Result, error) {
	return p.traceOneShot(ctx, KindDeviceCode, scopes, opts, func(ctx context.Context) (Result, error) {
		return p.users().acquireByDeviceCode(ctx, scopes, callback, opts)
	})
}

// AcquireTokenByDeviceCode is [Public.AcquireTokenByDeviceCode] for a
// confidential client, as MSAL Python allows: both the device
// authorization request and every poll carry the client's credential.
func (c *Confidential) AcquireTokenByDeviceCode(ctx context.Context, scopes []string, callback func(context.Context, DeviceCode) error, opts ...CallOption) (Result, error) {
	return c.traceOneShot(ctx, KindDeviceCode, scopes, opts, func(ctx context.Context) (Result, error) {
		return c.users().acquireByDeviceCode(ctx, scopes, callback, opts)
	})
}

// acquireByDeviceCode is AcquireTokenByDeviceCode.
func (u users) acquireByDeviceCode(ctx context.Context, scopes []string, callback func(context.Context, DeviceCode) error, opts []CallOption) (Result, error) {
	start := time.Now()
	cc, err := newCallConfigFor("AcquireTokenByDeviceCode", usedByAcquire, opts...)
	if err != nil {
		return Result{}, err
	}
	if callback == nil {
		return Result{}, fmt.Errorf("%w: AcquireTokenByDeviceCode needs a callback to show the code to the user", ErrInvalidOption)
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return Result{}, err
	}
	if ep.deviceCode == "" {
		return Result{}, fmt.Errorf("%w: %s has no device authorization endpoint", ErrUnsupported, a)
	}
	merged, err := u.claimsFor(cc.claims)
	if err != nil {
		return Result{}, err
	}
	userScopes := oauth.UserScopes(scopes, u.cfg.excludeScopes)
	da, err := u.deviceAuthorization(ctx, ep, userScopes, merged)
	if err != nil {
		return Result{}, err
	}
	dc := DeviceCode{
		UserCode: da.UserCode, VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		ExpiresOn: da.ExpiresOn, Interval: da.Interval, Message: da.Message,
	}
	u.log.debug(ctx, "flow: device code: waiting for the user", slog.Any("device_code", dc),
		slog.Any("scopes", userScopes), slog.String("authority", a.String()))
	if err := callback(ctx, dc); err != nil {
		return Result{}, fmt.Errorf("flow: device code: the callback failed: %w", err)
	}
	form := oauth.DeviceCodeForm(u.clientID, userScopes, da.DeviceCode, merged)
	interval, polls := da.Interval, 0
	for {
		left := da.ExpiresOn.Sub(u.cfg.clock())
		if left <= 0 {
			u.log.debug(ctx, "flow: device code: expired", slog.Int("polls", polls))
			return Result{}, fmt.Errorf("%w (at %s, after %d polls)", ErrDeviceCodeExpired, da.ExpiresOn.Format(time.RFC3339), polls)
		}
		if err := u.cfg.pollWait(ctx, min(interval, left)); err != nil {
			return Result{}, fmt.Errorf("flow: device code: stopped waiting for the user: %w", err)
		}
		polls++
		tok, err := u.redeem(ctx, tokenRequest{endpoints: ep, form: form, cred: u.cred})
		if err == nil {
			return u.finish(ctx, tok, userResponse{ep: ep, scopes: withoutReserved(oauth.AppScopes(scopes)), what: "device code"}, start)
		}
		var fe *Error
		if !errors.As(err, &fe) {
			return Result{}, fmt.Errorf("flow: device code: polling the token endpoint: %w", err)
		}
		switch fe.Code {
		case "authorization_pending":
		case "slow_down":
			interval = min(interval+slowDownStep, oauth.MaxDeviceInterval)
			u.log.debug(ctx, "flow: device code: the authority asks to slow down", slog.Duration("interval", interval))
		case "expired_token", "code_expired":
			return Result{}, fmt.Errorf("%w: %w", ErrDeviceCodeExpired, err)
		case "authorization_declined", "access_denied":
			return Result{}, fmt.Errorf("%w: %w", ErrAuthorizationDeclined, err)
		case "bad_verification_code":
			return Result{}, fmt.Errorf("%w: %w", ErrBadVerificationCode, err)
		default:
			return Result{}, err
		}
	}
}

// deviceAuthorization asks ep's device authorization endpoint for a
// device code (RFC 8628 section 3.1), with the client's credential for a
// confidential client.
func (u users) deviceAuthorization(ctx context.Context, ep *endpoints, scopes []string, claims string) (*oauth.DeviceAuthorization, error) {
	req := &oauth.Request{URL: ep.deviceCode, Form: oauth.DeviceAuthorizationForm(u.clientID, scopes, claims)}
	if u.cred != nil {
		creq := ep.credentialRequest(u.clientID, ep.deviceCode, u.cfg.clientClaims)
		cred := u.cred
		req.Authenticate = func(ctx context.Context, form url.Values, header http.Header) error {
			r := creq
			r.Now = u.cfg.clock()
			return cred.Apply(ctx, r, form, header)
		}
	}
	u.log.debug(ctx, "flow: device code: asking for a code", slog.String("endpoint", ep.deviceCode), slog.Any("scopes", scopes))
	resp, err := u.wire.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("flow: device authorization: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorFromResponse(resp.Error())
	}
	da, err := oauth.ParseDeviceAuthorization(resp.Body, u.cfg.clock())
	if err != nil {
		return nil, errorFromResponse(err)
	}
	return da, nil
}

// sleepCtx waits d, or until ctx ends (its error then): the default wait
// between two polls of a device code.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
