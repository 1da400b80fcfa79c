package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// ErrFederatedUser is wrapped by the error of
// AcquireTokenByUsernamePassword for a user whose domain Entra federates
// to another identity provider (such as AD FS): the password is not
// Entra's to check, and this package does not speak WS-Trust. Sign the
// user in through the browser (the authorization code flow) or with a
// device code instead.
var ErrFederatedUser = errors.New("flow: the user's domain is federated to another identity provider; username and password sign-in is not supported for it")

// userRealm is Entra's user realm discovery answer: the fields read.
type userRealm struct {
	AccountType         string `json:"account_type"`
	DomainName          string `json:"domain_name"`
	FederationProtocol  string `json:"federation_protocol"`
	CloudAudienceURN    string `json:"cloud_audience_urn"`
	FederationMetadata  string `json:"federation_metadata_url"`
	FederationActiveURL string `json:"federation_active_auth_url"`
}

// noUserRealm remembers the hosts that answered user realm discovery with
// 404, which are not asked again (as MSAL Python does).
var noUserRealm sync.Map

// parseUserRealm reads a user realm discovery answer.
func parseUserRealm(body []byte) (userRealm, error) {
	var ur userRealm
	if !isJSONObject(body) || json.Unmarshal(body, &ur) != nil {
		return userRealm{}, fmt.Errorf("%w: user realm discovery: not a JSON object", ErrMalformedResponse)
	}
	return ur, nil
}

// discoverUserRealm asks the authority's host which kind of account
// username is (GET /common/userrealm/{username}?api-version=1.0): only
// for Entra's authorities; the others (ADFS, B2C, External ID, OIDC) take
// the password themselves. A host that answers 404 has no user realm
// discovery and is not asked again.
func (u users) discoverUserRealm(ctx context.Context, a authority, username string) (userRealm, bool, error) {
	if a.kind != kindEntra {
		return userRealm{}, false, nil
	}
	host := a.scheme + "://" + a.host
	if _, none := noUserRealm.Load(host); none {
		return userRealm{}, false, nil
	}
	q := url.Values{"api-version": {"1.0"}}
	u.log.debug(ctx, "flow: username and password: user realm discovery", slog.String("host", host), u.log.pii("username", username))
	resp, err := u.wire.Do(ctx, &oauth.Request{
		Method: http.MethodGet,
		URL:    host + "/common/userrealm/" + url.PathEscape(username) + "?" + q.Encode(),
		Where:  host + "/common/userrealm/{username}",
	})
	if err != nil {
		return userRealm{}, false, fmt.Errorf("flow: user realm discovery: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		noUserRealm.Store(host, true)
		return userRealm{}, false, nil
	case resp.StatusCode/100 != 2:
		return userRealm{}, false, fmt.Errorf("flow: user realm discovery: %w", errorFromResponse(resp.Error()))
	}
	ur, err := parseUserRealm(resp.Body)
	if err != nil {
		return userRealm{}, false, err
	}
	return ur, true, nil
}

// acquireByUsernamePassword is AcquireTokenByUsernamePassword.
func (u users) acquireByUsernamePassword(ctx context.Context, username, password string, scopes []string, opts []CallOption) (Result, error) {
	start := time.Now()
	cc, err := newCallConfigFor("AcquireTokenByUsernamePassword", usedByAcquire, opts...)
	if err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(username) == "" || password == "" {
		return Result{}, fmt.Errorf("%w: the username or the password is empty", ErrInvalidOption)
	}
	if err := checkScopes(scopes); err != nil {
		return Result{}, err
	}
	a, err := u.authorityFor(cc)
	if err != nil {
		return Result{}, err
	}
	if a.kind == kindB2C {
		return Result{}, fmt.Errorf("%w: B2C takes usernames and passwords only through a resource owner policy's own authority (B2C_1_ROPC…), not %s", ErrUnsupported, a)
	}
	ur, found, err := u.discoverUserRealm(ctx, a, username)
	if err != nil {
		return Result{}, err
	}
	if found && strings.EqualFold(ur.AccountType, "Federated") {
		return Result{}, fmt.Errorf("%w (federation protocol %s)", ErrFederatedUser, orUnknownProtocol(ur.FederationProtocol))
	}
	ep, err := u.endpointsOf(ctx, a)
	if err != nil {
		return Result{}, err
	}
	merged, err := u.claimsFor(cc.claims)
	if err != nil {
		return Result{}, err
	}
	userScopes := oauth.UserScopes(scopes, u.cfg.excludeScopes)
	u.log.debug(ctx, "flow: username and password: asking the authority",
		slog.Any("scopes", userScopes), slog.String("authority", a.String()), u.log.pii("username", username))
	tok, err := u.redeem(ctx, tokenRequest{
		endpoints: ep,
		form:      oauth.PasswordForm(u.clientID, userScopes, username, password, merged),
		cred:      u.cred,
	})
	if err != nil {
		var fe *Error
		if errors.As(err, &fe) && fe.InteractionRequired() {
			return Result{}, &InteractionError{Reason: "the user must sign in interactively (multi-factor authentication, consent or a password change)", Claims: fe.Claims, Err: err}
		}
		return Result{}, err
	}
	return u.finish(ctx, tok, userResponse{ep: ep, scopes: scopes, what: "username and password"}, start)
}

func orUnknownProtocol(p string) string {
	if p == "" {
		return "unknown"
	}
	return p
}
