package flow

import (
	"fmt"
	"log/slog"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// Authority types, the values of [Account.AuthorityType]: the kind of
// authority that signed the account in, as the MSAL cache records it.
const (
	// AuthorityTypeMSSTS is Microsoft Entra ID (work, school and personal
	// accounts, B2C and External ID).
	AuthorityTypeMSSTS = cache.AuthorityTypeMSSTS
	// AuthorityTypeADFS is Active Directory Federation Services.
	AuthorityTypeADFS = cache.AuthorityTypeADFS
	// AuthorityTypeGeneric is any other OpenID Connect authority.
	AuthorityTypeGeneric = cache.AuthorityTypeGeneric
)

// Account is a user known to an application: signed in at one tenant of
// one authority host. User flows return it in [Result.Account];
// [Confidential.Accounts] lists the accounts the token cache holds, and
// [Confidential.RemoveAccount] signs one out of the cache.
//
// An Account identifies its user's tokens in the cache by HomeAccountID
// and Environment; the other fields describe the user. The zero Account
// is "no user" (the result of a client-credentials call).
//
// Its String, GoString, Format and LogValue methods show no personal
// data (usernames, names, object or tenant IDs): read the fields.
type Account struct {
	// HomeAccountID identifies the user across tenants: "<object ID>.<home
	// tenant ID>" from Entra's client_info, or the ID token's subject for
	// authorities that send no client_info.
	HomeAccountID string
	// Environment is the authority host the account signed in at, as the
	// cache records it (such as login.microsoftonline.com). The cache
	// treats every alias of a cloud's host as the same environment. For an
	// OpenID Connect authority ([WithOIDCAuthority]) it is the issuer URL
	// without the scheme (host, port unless the default one, and path,
	// such as idp.example.com/realms/a), so that issuers sharing a host
	// keep their users apart.
	Environment string
	// TenantID is the tenant the account signed in to, as the MSAL cache
	// records it (its realm). For the user flows (sign-in, silent,
	// refresh token, username and password) it is the tenant of the
	// authority the sign-in went to, as configured, common and
	// organizations included, as MSAL Go and MSAL Python write it (the
	// user's own tenant ID is the ID token's tid claim); for an
	// on-behalf-of result, the ID token's tid, else the authority's
	// tenant. For an OpenID Connect authority ([WithOIDCAuthority]) it is
	// its issuer URL, under which its tokens are cached.
	TenantID string
	// Username is the user's sign-in name: the ID token's
	// preferred_username (upn for ADFS).
	Username string
	// LocalAccountID is the user's object ID in TenantID (the ID token's
	// oid, else its sub).
	LocalAccountID string
	// Name is the user's display name, when known.
	Name string
	// AuthorityType is [AuthorityTypeMSSTS], [AuthorityTypeADFS] or
	// [AuthorityTypeGeneric].
	AuthorityType string
}

// IsZero reports whether a is the zero Account: no user.
func (a Account) IsZero() bool { return a == Account{} }

// String describes a without personal data: its environment, authority
// type and whether it has a username.
func (a Account) String() string {
	if a.IsZero() {
		return "flow.Account{}"
	}
	return fmt.Sprintf("flow.Account{Environment: %s, AuthorityType: %s, Username: %s}",
		a.Environment, a.AuthorityType, hidden(a.Username))
}

// GoString is String, for %#v.
func (a Account) GoString() string { return a.String() }

// Format writes String for every verb.
func (a Account) Format(f fmt.State, _ rune) { fmt.Fprint(f, a.String()) }

// LogValue logs a without personal data; [WithPII] adds it to the
// records the package logs itself.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("environment", a.Environment),
		slog.String("authority_type", a.AuthorityType),
	)
}

// hidden stands for a value that is not shown.
func hidden(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED"
}

// cacheAccount is a as the cache stores it.
func (a Account) cacheAccount() cache.Account {
	return cache.Account{
		HomeAccountID:  a.HomeAccountID,
		Environment:    a.Environment,
		Realm:          a.TenantID,
		LocalAccountID: a.LocalAccountID,
		Username:       a.Username,
		AuthorityType:  a.AuthorityType,
		Name:           a.Name,
	}
}

// accountFromCache is the cache's account as an Account.
func accountFromCache(c cache.Account) Account {
	return Account{
		HomeAccountID:  c.HomeAccountID,
		Environment:    c.Environment,
		TenantID:       c.Realm,
		Username:       c.Username,
		LocalAccountID: c.LocalAccountID,
		Name:           c.Name,
		AuthorityType:  c.AuthorityType,
	}
}

// authorityType is the MSAL authority type of a kind of authority.
func (k authorityKind) authorityType() string {
	switch k {
	case kindADFS:
		return AuthorityTypeADFS
	case kindOIDC:
		return AuthorityTypeGeneric
	}
	return AuthorityTypeMSSTS
}

// newAccount builds the account of a user flow's response: the home
// account ID from client_info (else the ID token's subject), the rest
// from the ID token's claims. ep is the endpoints the response came from.
// It returns the zero Account when the response names no user.
func newAccount(ep *endpoints, ci oauth.ClientInfo, claims map[string]any) Account {
	home := ci.HomeAccountID()
	if home == "" {
		home = claimString(claims, "sub")
	}
	if home == "" {
		return Account{}
	}
	a := Account{
		HomeAccountID:  home,
		Environment:    ep.environment,
		TenantID:       claimString(claims, "tid"),
		Username:       claimString(claims, "preferred_username"),
		LocalAccountID: claimString(claims, "oid"),
		Name:           claimString(claims, "name"),
		AuthorityType:  ep.authority.kind.authorityType(),
	}
	if a.TenantID == "" {
		a.TenantID = ep.realm
	}
	if a.Username == "" {
		a.Username = claimString(claims, "upn")
	}
	if a.LocalAccountID == "" {
		a.LocalAccountID = claimString(claims, "sub")
	}
	return a
}
