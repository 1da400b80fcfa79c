package authtest

import (
	"crypto"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
)

// DefaultTenant is the tenant ID of users registered without a TenantID.
const DefaultTenant = "0a3c1ef9-170f-4ae3-a5fc-db742f13f25a"

// ConsumersTenant is the tenant ID Entra uses for personal Microsoft
// accounts; tokens requested through /consumers carry it.
const ConsumersTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

// GraphAppID is Microsoft Graph's application ID. Unless [WithoutDefaultAPIs]
// is given, every server has Microsoft Graph registered: audience
// https://graph.microsoft.com (tokens naming this ID as aud are accepted
// too), delegated scopes User.Read, User.ReadBasic.All, User.Read.All,
// Mail.Read, Mail.Send and Calendars.Read, and the app roles User.Read.All
// and Mail.Read. The same API is registered under the Graph audiences of
// the US Government (https://graph.microsoft.us) and China
// (https://microsoftgraph.chinacloudapi.cn) clouds.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// GraphAudience is Microsoft Graph's audience in the public cloud.
const GraphAudience = "https://graph.microsoft.com"

// TokenExchangeAudience is the audience federated credentials expect in an
// outside issuer's assertion unless [FederatedCredential.Audiences] says
// otherwise.
const TokenExchangeAudience = "api://AzureADTokenExchange"

var graphAudiences = []string{GraphAudience, "https://graph.microsoft.us", "https://microsoftgraph.chinacloudapi.cn"}

// Client is an application registration.
//
// A client is known in every tenant (as a multi-tenant application with
// admin consent everywhere). Its String and Format methods never show the
// secret.
type Client struct {
	// ID is the application (client) ID. Required.
	ID string
	// Name is the display name; it defaults to ID.
	Name string
	// Secret is the client secret. A confidential client (Public false)
	// authenticates with Secret, with an assertion signed by the key of one
	// of Certificates, or with a federated credential.
	Secret string
	// Certificates are the certificates whose keys may sign client
	// assertions; an assertion names its certificate with x5t or x5t#S256.
	Certificates []*x509.Certificate
	// FederatedCredentials are outside issuers whose tokens the client may
	// present as client assertions (workload identity federation).
	FederatedCredentials []FederatedCredential
	// Public marks a public client: it must not send a secret or an
	// assertion, and it cannot use client credentials.
	Public bool
	// RedirectURIs are the registered redirect URIs. For loopback URIs
	// (http://localhost, http://127.0.0.1) the port is ignored, as Entra
	// does. A client with no redirect URIs accepts any http loopback URI.
	RedirectURIs []string
	// Roles are the app roles the client was granted. A client-credentials
	// token for an API carries the granted roles the API defines. nil
	// grants every role of every API; an empty, non-nil slice grants none.
	Roles []string
	// FamilyID, when not empty (Microsoft uses "1"), makes the client a
	// member of that family: responses carry foci and a refresh token
	// issued to one member is accepted from any other.
	FamilyID string
	// StrictRotation makes each refresh token single-use: once redeemed it
	// is refused with invalid_grant. By default an old refresh token stays
	// valid after it was used, as Entra does.
	StrictRotation bool
	// RequireConsent makes delegated grants that no user could answer
	// (refresh token, password, on-behalf-of) fail with invalid_grant
	// AADSTS65001 (suberror consent_required) until the user consented:
	// by signing in through the authorization or device code endpoints,
	// or through admin consent for the tenant.
	RequireConsent bool
	// ObjectID is the object ID of the client's service principal, the
	// oid and sub of its app-only tokens. It defaults to a GUID derived
	// from ID.
	ObjectID string
}

// FederatedCredential lets a client authenticate with a token from an
// outside issuer (a CI system, Kubernetes, another identity provider, or
// this server): the token is presented as client_assertion; its iss, sub
// and aud must match, its signature must verify with one of Keys, and it
// must not have expired. Unlike certificate assertions, such a token may be
// presented more than once.
type FederatedCredential struct {
	// Issuer is the outside issuer (the assertion's iss).
	Issuer string
	// Subject is the identity at that issuer (the assertion's sub).
	Subject string
	// Audiences are the accepted aud values; empty means
	// [TokenExchangeAudience].
	Audiences []string
	// Keys are the issuer's signing keys (*rsa.PublicKey or
	// *ecdsa.PublicKey). Empty means this server's own signing keys, for
	// tokens this server issued (for example to a managed identity).
	Keys []crypto.PublicKey
}

// User is a user account.
//
// Its String and Format methods never show the password.
type User struct {
	// Username is the user principal name, such as alice@contoso.com.
	// Required. Its domain becomes a name of the user's home tenant.
	Username string
	// Password is what the password grant and the sign-in form accept.
	Password string
	// ObjectID is the user's object ID (oid); it defaults to a GUID
	// derived from Username.
	ObjectID string
	// TenantID is the user's home tenant; it defaults to [DefaultTenant].
	TenantID string
	// Tenants are other tenants the user is a guest in. A user can sign in
	// to the home tenant, to these, and through common and organizations.
	Tenants []string
	// DisplayName is the user's name (the name claim); it defaults to the
	// part of Username before the @.
	DisplayName string
	// ACR is the authentication context class reference a sign-in of this
	// user reaches when the request asks for none (the acr claim);
	// default "1". A sign-in through the authorization endpoint that asks
	// for acr_values gets the first value asked for.
	ACR string
	// MFA says the user must complete multi-factor authentication: the
	// password grant fails with invalid_grant AADSTS50076 (suberror
	// basic_action), while sign-ins through the authorization and device
	// code endpoints complete it (amr pwd, mfa).
	MFA bool
	// DeclineConsent makes the user decline every sign-in: the
	// authorization endpoint redirects with error=access_denied, the
	// device code grant answers authorization_declined, admin consent
	// answers access_denied.
	DeclineConsent bool
}

// API is a protected resource (a web API) that tokens can be issued for.
type API struct {
	// Audience is the application ID URI, such as api://my-api or
	// https://contoso.com/api: the aud of tokens issued for it and the
	// prefix of its scopes (api://my-api/read). Required. A scope
	// api://my-api/.default asks for every scope (delegated) or role
	// (app-only) of the API.
	Audience string
	// AppID is the application ID of the app that exposes the API, the
	// client_id of a middle tier using on-behalf-of; it defaults to a GUID
	// derived from Audience. Tokens naming AppID as aud are accepted by
	// the resource, and api://{AppID} is an alias of Audience.
	AppID string
	// Scopes are the delegated permissions the API defines (such as
	// "read"), matched case-insensitively.
	Scopes []string
	// Roles are the app roles the API defines (such as "Data.Read.All").
	Roles []string
}

// ManagedIdentity is a user-assigned managed identity served by the
// instance metadata stand-in at /metadata/identity/oauth2/token. A
// system-assigned identity always exists.
type ManagedIdentity struct {
	// ClientID is the identity's client ID. Required.
	ClientID string
	// ObjectID is the identity's object (principal) ID; it defaults to a
	// GUID derived from ClientID.
	ObjectID string
	// ResourceID is the identity's Azure resource ID.
	ResourceID string
}

// derivedGUID returns a GUID-shaped name-based ID (UUID version 5 layout)
// for a string, so derived IDs are stable across runs.
func derivedGUID(kind, name string) string {
	h := sha1.Sum([]byte("authtest:" + kind + ":" + strings.ToLower(name)))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// AddClient registers c, replacing a client with the same ID. It panics
// when c.ID is empty.
func (s *Server) AddClient(c Client) {
	if c.ID == "" {
		panic("authtest: AddClient: Client.ID is empty")
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	if c.ObjectID == "" {
		c.ObjectID = derivedGUID("sp", c.ID)
	}
	c.Certificates = slices.Clone(c.Certificates)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	if c.Roles != nil {
		c.Roles = slices.Clone(c.Roles)
	}
	c.FederatedCredentials = slices.Clone(c.FederatedCredentials)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[strings.ToLower(c.ID)] = &c
}

// AddUser registers u, replacing a user with the same username. It panics
// when u.Username is empty.
func (s *Server) AddUser(u User) {
	if u.Username == "" {
		panic("authtest: AddUser: User.Username is empty")
	}
	if u.ObjectID == "" {
		u.ObjectID = derivedGUID("user", u.Username)
	}
	if u.TenantID == "" {
		u.TenantID = DefaultTenant
	}
	u.TenantID = strings.ToLower(u.TenantID)
	if u.DisplayName == "" {
		u.DisplayName, _, _ = strings.Cut(u.Username, "@")
	}
	if u.ACR == "" {
		u.ACR = "1"
	}
	u.Tenants = slices.Clone(u.Tenants)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToLower(u.Username)] = &u
}

// AddAPI registers a, replacing an API with the same audience. It panics
// when a.Audience is empty.
func (s *Server) AddAPI(a API) {
	if a.Audience == "" {
		panic("authtest: AddAPI: API.Audience is empty")
	}
	a.Audience = strings.TrimSuffix(a.Audience, "/")
	if a.AppID == "" {
		a.AppID = derivedGUID("api", a.Audience)
	}
	a.Scopes = slices.Clone(a.Scopes)
	a.Roles = slices.Clone(a.Roles)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apis[strings.ToLower(a.Audience)] = &a
}

// AddManagedIdentity registers a user-assigned managed identity. It panics
// when m.ClientID is empty.
func (s *Server) AddManagedIdentity(m ManagedIdentity) {
	if m.ClientID == "" {
		panic("authtest: AddManagedIdentity: ManagedIdentity.ClientID is empty")
	}
	if m.ObjectID == "" {
		m.ObjectID = derivedGUID("mi", m.ClientID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities = append(s.identities, &m)
}

func (s *Server) addDefaultAPIs() {
	for _, aud := range graphAudiences {
		s.AddAPI(API{
			Audience: aud,
			AppID:    GraphAppID,
			Scopes:   []string{"User.Read", "User.ReadBasic.All", "User.Read.All", "Mail.Read", "Mail.Send", "Calendars.Read"},
			Roles:    []string{"User.Read.All", "Mail.Read"},
		})
	}
}

// client returns the registered client with id. s.mu must be held.
func (s *Server) clientLocked(id string) *Client { return s.clients[strings.ToLower(id)] }

// userLocked returns the user whose username or object ID is id. s.mu
// must be held.
func (s *Server) userLocked(id string) *User {
	if u, ok := s.users[strings.ToLower(id)]; ok {
		return u
	}
	for _, u := range s.users {
		if strings.EqualFold(u.ObjectID, id) {
			return u
		}
	}
	return nil
}

// passwordIs reports whether pw is u's password, in constant time. A
// user without a password has none that matches.
func (u *User) passwordIs(pw string) bool {
	return u.Password != "" && subtle.ConstantTimeCompare([]byte(u.Password), []byte(pw)) == 1
}

// memberOf reports whether u may sign in to tenant tid.
func (u *User) memberOf(tid string) bool {
	if strings.EqualFold(u.TenantID, tid) {
		return true
	}
	for _, t := range u.Tenants {
		if strings.EqualFold(t, tid) {
			return true
		}
	}
	return false
}

// Tenant aliases that name no single tenant.
const (
	tenantCommon        = "common"
	tenantOrganizations = "organizations"
	tenantConsumers     = "consumers"
)

func isMultiTenant(t string) bool {
	switch strings.ToLower(t) {
	case tenantCommon, tenantOrganizations, tenantConsumers:
		return true
	}
	return false
}

// TenantID returns the tenant ID that tenant (as it appears in an
// authority URL) stands for. Any tenant is accepted: a GUID is itself; a
// domain name is the home tenant of a registered user whose username has
// that domain (or one of their guest tenants named by that domain), and
// otherwise a GUID derived from the name, so the same name always maps to
// the same ID; consumers is [ConsumersTenant]; common and organizations
// name no tenant and are returned lower-cased.
func (s *Server) TenantID(tenant string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tenantIDLocked(tenant)
}

func (s *Server) tenantIDLocked(tenant string) string {
	t := strings.ToLower(tenant)
	switch {
	case t == tenantConsumers:
		return ConsumersTenant
	case t == tenantCommon || t == tenantOrganizations:
		return t
	case isGUID(t):
		return t
	}
	if id, ok := s.tenantNames[t]; ok {
		return id
	}
	for _, u := range s.users {
		if _, domain, ok := strings.Cut(strings.ToLower(u.Username), "@"); ok && domain == t {
			return u.TenantID
		}
	}
	return derivedGUID("tenant", t)
}

// AddTenantName makes name (a domain such as contoso.onmicrosoft.com) an
// alias of tenant ID id, ahead of the rules of [Server.TenantID].
func (s *Server) AddTenantName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenantNames[strings.ToLower(name)] = strings.ToLower(id)
}

// apiLocked finds the API a resource identifier names: its audience, its
// AppID, or api://{AppID}. s.mu must be held.
func (s *Server) apiLocked(resource string) *API {
	r := strings.ToLower(strings.TrimSuffix(resource, "/"))
	if a, ok := s.apis[r]; ok {
		return a
	}
	appID := strings.TrimPrefix(r, "api://")
	for _, a := range s.apis {
		if strings.EqualFold(a.AppID, appID) {
			// Prefer the public cloud's Graph for Graph's app ID.
			if a.AppID == GraphAppID {
				if g, ok := s.apis[GraphAudience]; ok {
					return g
				}
			}
			return a
		}
	}
	return nil
}

// apiForScopeLocked finds the API whose audience (or AppID form) prefixes
// scope, returning the API and the rest of the scope after the "/". The
// longest audience wins.
func (s *Server) apiForScopeLocked(scope string) (*API, string) {
	var best *API
	var rest string
	bestLen := 0
	ls := strings.ToLower(scope)
	for _, a := range s.apis {
		for i, id := range []string{a.Audience, a.AppID, "api://" + a.AppID} {
			p := strings.ToLower(id) + "/"
			if !strings.HasPrefix(ls, p) || len(p) <= bestLen {
				continue
			}
			best, rest, bestLen = a, scope[len(p):], len(p)
			if i > 0 {
				// Named by app ID: several APIs may share it (Graph in
				// each cloud); apiLocked picks the public cloud's.
				best = s.apiLocked(a.AppID)
			}
		}
	}
	return best, rest
}
