package oauth

import (
	"net/url"
	"slices"
	"strings"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer" // on-behalf-of
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code" // RFC 8628; Entra takes it too
)

// ReservedScopes are the OpenID Connect scopes added to every user flow's
// request, as MSAL does: openid (an ID token), offline_access (a refresh
// token), profile (client_info and the user's name).
var ReservedScopes = []string{"openid", "offline_access", "profile"}

// UserScopes returns scopes followed by the reserved scopes not already
// present and not in exclude; empty and duplicate scopes are dropped.
// Reserved scopes are matched case-insensitively.
func UserScopes(scopes, exclude []string) []string {
	out := make([]string, 0, len(scopes)+len(ReservedScopes))
	seen := make(map[string]bool, len(scopes)+len(ReservedScopes))
	add := func(s string) {
		k := s
		if isReserved(s) {
			k = strings.ToLower(s)
		}
		if s == "" || seen[k] || containsFold(exclude, s) {
			return
		}
		seen[k] = true
		out = append(out, s)
	}
	for _, s := range scopes {
		add(strings.TrimSpace(s))
	}
	for _, s := range ReservedScopes {
		add(s)
	}
	return out
}

// AppScopes returns scopes without empty and duplicate entries, for grants
// that are not user flows (client credentials).
func AppScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func isReserved(s string) bool { return containsFold(ReservedScopes, s) }

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// base starts a form with client_id, the grant type, the scopes and the
// claims request (when not empty).
func base(clientID, grant string, scopes []string, claims string) url.Values {
	f := url.Values{}
	f.Set("client_id", clientID)
	if grant != "" {
		f.Set("grant_type", grant)
	}
	if len(scopes) > 0 {
		f.Set("scope", strings.Join(scopes, " "))
	}
	if claims != "" {
		f.Set("claims", claims)
	}
	return f
}

// ClientCredentialsForm is a client credentials request (RFC 6749 4.4):
// client_id, grant_type, scope, claims. No client_info: there is no user.
// scopes are sent as given (see [AppScopes]).
func ClientCredentialsForm(clientID string, scopes []string, claims string) url.Values {
	return base(clientID, GrantClientCredentials, scopes, claims)
}

// OnBehalfOfForm is an on-behalf-of request (RFC 7523 jwt-bearer grant
// with requested_token_use=on_behalf_of), a user flow: scopes should come
// from [UserScopes]; client_info=1.
func OnBehalfOfForm(clientID string, scopes []string, userAssertion, claims string) url.Values {
	f := base(clientID, GrantJWTBearer, scopes, claims)
	f.Set("assertion", userAssertion)
	f.Set("requested_token_use", "on_behalf_of")
	f.Set("client_info", "1")
	return f
}

// AuthCodeForm redeems an authorization code (RFC 6749 4.1.3, with the
// PKCE code_verifier of RFC 7636 when not empty); client_info=1.
func AuthCodeForm(clientID string, scopes []string, code, redirectURI, codeVerifier, claims string) url.Values {
	f := base(clientID, GrantAuthorizationCode, scopes, claims)
	f.Set("code", code)
	if redirectURI != "" {
		f.Set("redirect_uri", redirectURI)
	}
	if codeVerifier != "" {
		f.Set("code_verifier", codeVerifier)
	}
	f.Set("client_info", "1")
	return f
}

// RefreshTokenForm redeems a refresh token (RFC 6749 6); client_info=1.
func RefreshTokenForm(clientID string, scopes []string, refreshToken, claims string) url.Values {
	f := base(clientID, GrantRefreshToken, scopes, claims)
	f.Set("refresh_token", refreshToken)
	f.Set("client_info", "1")
	return f
}

// PasswordForm is a resource owner password request (RFC 6749 4.3);
// client_info=1.
func PasswordForm(clientID string, scopes []string, username, password, claims string) url.Values {
	f := base(clientID, GrantPassword, scopes, claims)
	f.Set("username", username)
	f.Set("password", password)
	f.Set("client_info", "1")
	return f
}

// DeviceAuthorizationForm asks for a device code (RFC 8628 3.1): client_id,
// scope, claims.
func DeviceAuthorizationForm(clientID string, scopes []string, claims string) url.Values {
	return base(clientID, "", scopes, claims)
}

// DeviceCodeForm polls for the token of a device code (RFC 8628 3.4);
// client_info=1.
func DeviceCodeForm(clientID string, scopes []string, deviceCode, claims string) url.Values {
	f := base(clientID, GrantDeviceCode, scopes, claims)
	f.Set("device_code", deviceCode)
	f.Set("client_info", "1")
	return f
}
