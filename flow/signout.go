package flow

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// logoutURL is LogoutURL.
func (u users) logoutURL(ctx context.Context, postLogoutRedirectURI string, opts []CallOption) (string, error) {
	cc, err := newCallConfigFor("LogoutURL", optTenant|optAuthority|optState, opts...)
	if err != nil {
		return "", err
	}
	if postLogoutRedirectURI != "" {
		if err := checkRedirectURI(postLogoutRedirectURI); err != nil {
			return "", err
		}
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return "", err
	}
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return "", err
	}
	if ep.endSession == "" {
		return "", fmt.Errorf("%w: %s publishes no end_session_endpoint", ErrUnsupported, a)
	}
	lu, err := url.Parse(ep.endSession)
	if err != nil {
		return "", fmt.Errorf("%w: %s: the end_session_endpoint is not a URL", ErrDiscovery, a)
	}
	q := lu.Query()
	q.Set("client_id", u.clientID)
	if postLogoutRedirectURI != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirectURI)
	}
	if cc.state != "" {
		q.Set("state", cc.state)
	}
	lu.RawQuery = q.Encode()
	u.log.debug(ctx, "flow: sign-out URL made", slog.String("authority", a.String()))
	return lu.String(), nil
}

// AdminConsentRequest is an admin consent request under way: what
// [Confidential.AdminConsentURL] made, to keep until the administrator
// comes back and to give to [Confidential.AdminConsentResult] with the
// response. It marshals to JSON. It holds no secret.
type AdminConsentRequest struct {
	// URL is the admin consent URL to send the administrator's browser to.
	URL string `json:"url"`
	// State is the request's state, which the response must carry back.
	State string `json:"state"`
	// RedirectURI is where the authority sends the response.
	RedirectURI string `json:"redirect_uri"`
}

// AdminConsent is the outcome of an admin consent: the tenant whose
// administrator consented, for a multi-tenant daemon to ask for its
// tokens (WithAuthority, or [Tenant] per call).
type AdminConsent struct {
	// TenantID is the tenant whose administrator granted consent.
	TenantID string
	// Scope is the scope consented to, when the authority said (the
	// v2.0 admin consent endpoint echoes it).
	Scope string
}

// adminConsentURL is AdminConsentURL.
func (c *Confidential) adminConsentURL(ctx context.Context, scopes []string, redirectURI string, opts []CallOption) (AdminConsentRequest, error) {
	cc, err := newCallConfigFor("AdminConsentURL", optTenant|optAuthority|optState, opts...)
	if err != nil {
		return AdminConsentRequest{}, err
	}
	if err := checkRedirectURI(redirectURI); err != nil {
		return AdminConsentRequest{}, err
	}
	a, err := c.authorityFor(cc)
	if err != nil {
		return AdminConsentRequest{}, err
	}
	if a.kind != kindEntra {
		return AdminConsentRequest{}, fmt.Errorf("%w: admin consent is Entra's; %s is a %s authority", ErrUnsupported, a, a.kind)
	}
	state := cc.state
	if state == "" {
		state = randomString(24)
	}
	q := url.Values{}
	q.Set("client_id", c.clientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	path := "/adminconsent"
	if s := strings.Join(withoutReserved(scopes), " "); s != "" {
		// The v2.0 endpoint consents to the scopes named (such as
		// https://graph.microsoft.com/.default); the v1 one to every
		// permission the registration lists.
		path = "/v2.0/adminconsent"
		q.Set("scope", s)
	}
	return AdminConsentRequest{URL: a.String() + path + "?" + q.Encode(), State: state, RedirectURI: redirectURI}, nil
}

// adminConsentResult reads an admin consent redirect: the state first,
// then an error (an [*Error], such as access_denied), then
// admin_consent=True and the tenant.
func adminConsentResult(req AdminConsentRequest, response url.Values) (AdminConsent, error) {
	if req.State == "" {
		return AdminConsent{}, fmt.Errorf("%w: the request has no state (it was not made by AdminConsentURL)", ErrInvalidOption)
	}
	got, err := single(response, "state")
	if err != nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(req.State)) != 1 {
		return AdminConsent{}, fmt.Errorf("%w: admin consent", ErrStateMismatch)
	}
	if e := response.Get("error"); e != "" {
		return AdminConsent{}, &Error{Code: cleanField(e), Description: cleanField(response.Get("error_description"))}
	}
	consent, err := single(response, "admin_consent")
	if err != nil {
		return AdminConsent{}, err
	}
	if !strings.EqualFold(consent, "true") {
		return AdminConsent{}, fmt.Errorf("%w: admin_consent is not True", ErrInvalidAuthResponse)
	}
	tenant, err := single(response, "tenant")
	if err != nil {
		return AdminConsent{}, err
	}
	if !validSegment(tenant) || isMultiTenantName(tenant) {
		return AdminConsent{}, fmt.Errorf("%w: the tenant is missing or not a tenant ID", ErrInvalidAuthResponse)
	}
	scope, err := single(response, "scope")
	if err != nil {
		return AdminConsent{}, err
	}
	return AdminConsent{TenantID: strings.ToLower(tenant), Scope: cleanField(scope)}, nil
}

// AdminConsentURL returns an admin consent request for a multi-tenant
// application (such as a daemon serving many organizations): its URL, to
// send an administrator of another tenant to, grants the application the
// permissions scopes name (such as https://graph.microsoft.com/.default,
// through the v2.0 endpoint; none for every permission the registration
// lists) in that tenant. The application's authority is usually
// organizations or common. The request has a random state (or [State]'s);
// keep it until the administrator comes back to redirectURI, and read the
// response with [Confidential.AdminConsentResult]. Only Entra authorities
// have admin consent: others fail with [ErrUnsupported]. [Tenant] and
// [Authority] apply.
func (c *Confidential) AdminConsentURL(ctx context.Context, scopes []string, redirectURI string, opts ...CallOption) (AdminConsentRequest, error) {
	return c.adminConsentURL(ctx, scopes, redirectURI, opts)
}

// AdminConsentResult reads the response to req that came to its redirect
// URI (the query): its state must be req's ([ErrStateMismatch]
// otherwise); an error (access_denied when the administrator declined) is
// an [*Error]; else admin_consent must be True and tenant a tenant ID,
// which the result gives. It sends nothing.
func (c *Confidential) AdminConsentResult(req AdminConsentRequest, response url.Values) (AdminConsent, error) {
	return adminConsentResult(req, response)
}
