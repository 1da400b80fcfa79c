package cache

import (
	"encoding/json"
	"strings"
	"time"
)

// Credential types, the values of an entry's credential_type field in the
// MSAL unified schema.
const (
	// CredentialTypeAccessToken marks a bearer (or proof-of-possession, see
	// [AccessToken.TokenType]) access token.
	CredentialTypeAccessToken = "AccessToken"
	// CredentialTypeAccessTokenWithAuthScheme is what MSAL.NET writes for
	// proof-of-possession access tokens. It is read like
	// [CredentialTypeAccessToken]; this package writes CredentialTypeAccessToken
	// with a token_type, as MSAL Go and MSAL Python do.
	CredentialTypeAccessTokenWithAuthScheme = "AccessToken_With_AuthScheme"
	// CredentialTypeRefreshToken marks a refresh token.
	CredentialTypeRefreshToken = "RefreshToken"
	// CredentialTypeIDToken marks an ID token. MSAL Go 1.x wrote "IDToken";
	// both spellings are read, and the spelling read is written back.
	CredentialTypeIDToken = "IdToken"
)

// Authority types, the values of [Account.AuthorityType].
const (
	// AuthorityTypeMSSTS is Microsoft Entra ID (work, school and personal
	// accounts).
	AuthorityTypeMSSTS = "MSSTS"
	// AuthorityTypeADFS is Active Directory Federation Services.
	AuthorityTypeADFS = "ADFS"
	// AuthorityTypeGeneric is any other OpenID Connect authority.
	AuthorityTypeGeneric = "Generic"
)

// TokenTypeBearer is the default token type of an access token. Token types
// are compared case-insensitively.
const TokenTypeBearer = "Bearer"

// FamilyFOCI is the family ID of Microsoft's family of client IDs ("FOCI"):
// apps of one family can redeem each other's refresh tokens.
const FamilyFOCI = "1"

// AccessToken is an access token entry of the MSAL unified cache schema.
//
// Its String, GoString, Format and LogValue methods never show Secret.
type AccessToken struct {
	// HomeAccountID is the user's "<uid>.<utid>" (from client_info), or the
	// ID token's subject; empty for app (client credentials) tokens.
	HomeAccountID string
	// Environment is the authority host the token was issued by, as cached
	// (the host MSAL writes for the cloud); lookups treat a cloud's aliases as one.
	Environment string
	// Realm is the tenant.
	Realm string
	// ClientID is the application the token was issued to.
	ClientID string
	// CredentialType is [CredentialTypeAccessToken] or
	// [CredentialTypeAccessTokenWithAuthScheme].
	CredentialType string
	// Target is the granted scopes, separated by single spaces, in the order
	// the authority listed them.
	Target string
	// Secret is the access token itself.
	Secret string
	// CachedAt is when the token was received. Lifetime is ExpiresOn -
	// CachedAt; see [AccessToken.Usable].
	CachedAt time.Time
	// ExpiresOn is when the token expires.
	ExpiresOn time.Time
	// ExtendedExpiresOn is the extended expiry Entra grants for outages
	// (ext_expires_in); zero when unknown.
	ExtendedExpiresOn time.Time
	// RefreshOn is when the token should be refreshed proactively
	// (refresh_in); zero when the authority gave none.
	RefreshOn time.Time
	// TokenType is the token's type ("Bearer", "pop", ...); empty means
	// Bearer.
	TokenType string
	// KeyID identifies the key a proof-of-possession token is bound to;
	// empty for bearer tokens.
	KeyID string
	// UserAssertionHash is [AssertionHash] of the user's assertion for
	// on-behalf-of tokens; empty otherwise.
	UserAssertionHash string
	// Extra holds the entry's fields this package does not interpret,
	// verbatim, so they survive a round trip through the cache.
	Extra map[string]json.RawMessage
	// Authorization is, for a bearer token returned by [Cache.AccessToken],
	// the value of an HTTP Authorization header that presents it:
	// "Bearer " followed by Secret, whose bytes it shares. It is built
	// once, when the token is cached, so a hit allocates nothing for it.
	// Empty for other token types. It is not written anywhere: the cache
	// ignores it on the way in and builds its own. It is a secret.
	Authorization string
}

// bearerPrefix starts the Authorization header value of a bearer token.
const bearerPrefix = "Bearer "

// Scopes returns the token's scopes: [AccessToken.Target] split at spaces.
func (t AccessToken) Scopes() []string { return strings.Fields(t.Target) }

// Usable reports whether the token may be served at now: it has not
// entered the last min(5 minutes, lifetime/10) of its life, where lifetime
// is ExpiresOn - CachedAt (5 minutes when CachedAt is unknown). At exactly
// ExpiresOn - margin it is no longer usable.
func (t AccessToken) Usable(now time.Time) bool {
	var cached int64
	if !t.CachedAt.IsZero() {
		cached = t.CachedAt.Unix()
	}
	if t.ExpiresOn.IsZero() {
		return false
	}
	return usableAt(cached, t.ExpiresOn.Unix(), now)
}

// Partition returns the [Store] partition the token belongs to: its
// UserAssertionHash, else its HomeAccountID, else [AppPartition] of its
// client and realm.
func (t AccessToken) Partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

// Key returns the token's key in the MSAL cache JSON, as MSAL Go builds it:
// "<home_account_id>-<environment>-<credential_type>-<client_id>-<realm>-<target>",
// plus "-<token_type>" when the type is not Bearer, all lower-cased; and,
// beyond MSAL Go, "-<key_id>" for a token of another type bound to a key
// (a DPoP token): two such tokens of one client and scopes bound to two
// keys (two replicas sharing a store, each with its own DPoP key) are two
// entries, as they are in memory, where one key would make the document
// keep only one of them. (MSAL Python's key maker has key_id in a comment
// for the same reason.) MSAL libraries find entries by their fields, not
// by their keys.
func (t AccessToken) Key() string {
	return accessTokenKey(t.HomeAccountID, t.Environment, t.CredentialType, t.ClientID, t.Realm, t.Target, t.TokenType, t.KeyID)
}

// RefreshToken is a refresh token entry of the MSAL unified cache schema.
// Refresh tokens carry no expiry; they are cross-tenant, so Realm is
// usually empty.
//
// Its String, GoString, Format and LogValue methods never show Secret.
type RefreshToken struct {
	// HomeAccountID is the user's home account ID.
	HomeAccountID string
	// Environment is the authority host, as cached.
	Environment string
	// ClientID is the application the token was issued to.
	ClientID string
	// CredentialType is [CredentialTypeRefreshToken].
	CredentialType string
	// FamilyID is the app's family ([FamilyFOCI]) when the token may be
	// redeemed by any app of that family; empty otherwise.
	FamilyID string
	// Secret is the refresh token itself.
	Secret string
	// Realm is the tenant, when the writer recorded one (MSAL writes none).
	Realm string
	// Target is the scopes, when the writer recorded them (MSAL Python
	// does).
	Target string
	// UserAssertionHash is [AssertionHash] of the user's assertion for
	// on-behalf-of tokens; empty otherwise.
	UserAssertionHash string
	// Extra holds the entry's fields this package does not interpret.
	Extra map[string]json.RawMessage
}

// Partition returns the [Store] partition the token belongs to: its
// UserAssertionHash, else its HomeAccountID.
func (t RefreshToken) Partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

// Key returns the token's key in the MSAL cache JSON, as MSAL Go builds it:
// "<home_account_id>-<environment>-<credential_type>-<family_id or client_id>",
// lower-cased.
func (t RefreshToken) Key() string {
	return refreshTokenKey(t.HomeAccountID, t.Environment, t.CredentialType, t.ClientID, t.FamilyID)
}

// IDToken is an ID token entry of the MSAL unified cache schema.
//
// Its String, GoString, Format and LogValue methods never show Secret.
type IDToken struct {
	// HomeAccountID is the user's home account ID.
	HomeAccountID string
	// Environment is the authority host, as cached.
	Environment string
	// Realm is the tenant.
	Realm string
	// ClientID is the application the token was issued to.
	ClientID string
	// CredentialType is [CredentialTypeIDToken] ("IDToken" when read so).
	CredentialType string
	// Secret is the ID token (a JWT).
	Secret string
	// UserAssertionHash is [AssertionHash] of the user's assertion for
	// on-behalf-of responses; empty otherwise.
	UserAssertionHash string
	// Extra holds the entry's fields this package does not interpret.
	Extra map[string]json.RawMessage
}

// Partition returns the [Store] partition the token belongs to: its
// UserAssertionHash, else its HomeAccountID.
func (t IDToken) Partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

// Key returns the token's key in the MSAL cache JSON, as MSAL Go builds it:
// "<home_account_id>-<environment>-<credential_type>-<client_id>-<realm>",
// lower-cased.
func (t IDToken) Key() string {
	return idTokenKey(t.HomeAccountID, t.Environment, t.CredentialType, t.ClientID, t.Realm)
}

// Account is an account entry of the MSAL unified cache schema: a user
// signed in at one tenant of one environment.
//
// Its String, GoString, Format and LogValue methods show no personal data
// (usernames, names, IDs).
type Account struct {
	// HomeAccountID is "<uid>.<utid>" from client_info (the ID token's
	// subject when the authority sends no client_info).
	HomeAccountID string
	// Environment is the authority host, as cached.
	Environment string
	// Realm is the tenant.
	Realm string
	// LocalAccountID is the user's object ID in Realm (the ID token's oid,
	// else sub).
	LocalAccountID string
	// Username is the ID token's preferred_username (upn for ADFS).
	Username string
	// AuthorityType is [AuthorityTypeMSSTS], [AuthorityTypeADFS] or
	// [AuthorityTypeGeneric].
	AuthorityType string
	// Name is the user's display name, when known.
	Name string
	// GivenName, FamilyName and MiddleName are the user's names, when known.
	GivenName, FamilyName, MiddleName string
	// AlternativeAccountID is the schema's alternative_account_id.
	AlternativeAccountID string
	// ClientInfo is the raw client_info, when the writer kept it.
	ClientInfo string
	// UserAssertionHash is [AssertionHash] of the user's assertion for
	// accounts written by on-behalf-of responses; empty otherwise.
	UserAssertionHash string
	// Extra holds the entry's fields this package does not interpret.
	Extra map[string]json.RawMessage
}

// Partition returns the [Store] partition the account belongs to: its
// UserAssertionHash, else its HomeAccountID.
func (a Account) Partition() string {
	return partitionName(partitionOf(a.UserAssertionHash, a.HomeAccountID, "", a.Realm))
}

// Key returns the account's key in the MSAL cache JSON:
// "<home_account_id>-<environment>-<realm>", lower-cased.
func (a Account) Key() string { return accountKey(a.HomeAccountID, a.Environment, a.Realm) }

// AppMetadata is an app metadata entry of the MSAL unified cache schema: it
// records whether an app belongs to a family of client IDs.
type AppMetadata struct {
	// ClientID is the application.
	ClientID string
	// Environment is the authority host, as cached.
	Environment string
	// FamilyID is the app's family ([FamilyFOCI]), empty when it has none.
	FamilyID string
	// Extra holds the entry's fields this package does not interpret.
	Extra map[string]json.RawMessage
}

// Key returns the entry's key in the MSAL cache JSON:
// "appmetadata-<environment>-<client_id>", lower-cased.
func (m AppMetadata) Key() string { return appMetadataKey(m.Environment, m.ClientID) }

// keySep separates the parts of MSAL cache keys.
const keySep = "-"

func accessTokenKey(home, env, credType, client, realm, target, tokenType, keyID string) string {
	if credType == "" {
		credType = CredentialTypeAccessToken
	}
	k := home + keySep + env + keySep + credType + keySep + client + keySep + realm + keySep + target
	if tokenType != "" && !strings.EqualFold(tokenType, TokenTypeBearer) {
		k += keySep + tokenType
		if keyID != "" {
			k += keySep + keyID
		}
	}
	return strings.ToLower(k)
}

func refreshTokenKey(home, env, credType, client, family string) string {
	if credType == "" {
		credType = CredentialTypeRefreshToken
	}
	fourth := family
	if fourth == "" {
		fourth = client
	}
	return strings.ToLower(home + keySep + env + keySep + credType + keySep + fourth)
}

func idTokenKey(home, env, credType, client, realm string) string {
	if credType == "" {
		credType = CredentialTypeIDToken
	}
	return strings.ToLower(home + keySep + env + keySep + credType + keySep + client + keySep + realm)
}

func accountKey(home, env, realm string) string {
	return strings.ToLower(home + keySep + env + keySep + realm)
}

func appMetadataKey(env, client string) string {
	return strings.ToLower("appmetadata" + keySep + env + keySep + client)
}
