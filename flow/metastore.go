package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/bearerhttp/bearer/cache"
)

// MetadataPartition is the partition of a metadata store
// ([WithMetadataStore]) that holds the discovered endpoints of
// authorities. Its document is a JSON object with one member,
// "BearerMetadata"; in a file store it is a section of the MSAL cache file
// that MSAL libraries keep as they found it.
const MetadataPartition = "bearer.metadata"

// metadataSection is the member of MetadataPartition's document that
// holds the endpoints, by authority.
const metadataSection = "BearerMetadata"

// WithMetadataStore persists what the application discovers about its
// authorities (MSAL Python's http_cache): the endpoints, issuer and
// algorithms read from an authority's OpenID Connect discovery document,
// and what Entra's instance discovery said about an unknown Entra host.
// A restarted process, or another process sharing the store, then makes
// no discovery request for a document read less than 24 hours ago (on
// the application's clock). Give it the store of the token cache (the
// file store and the Redis store both keep it in [MetadataPartition]) or
// another.
//
// What is read back from a store is checked again before use, as it may
// have been written by anyone with access to the store: every endpoint
// must be on the authority's own origin (scheme, host and port), and an
// OpenID Connect issuer must be on its host too. A document that fails
// this, or that is malformed or stale, is ignored and the authority is
// asked. Endpoints of authorities known without discovery (Entra's clouds,
// B2C, External ID, AD FS) stay computed, as they are without a store.
//
// Signing keys (the key sets the web API middleware validates callers'
// tokens with) are never read from a store: they are always fetched from
// the authority's jwks_uri.
func WithMetadataStore(s cache.Store) Option {
	return func(c *config) { c.metadataStore = s }
}

// storedEndpoints is one authority's entry in the metadata document.
type storedEndpoints struct {
	FetchedAt         int64    `json:"fetched_at"`
	Authorization     string   `json:"authorization_endpoint,omitempty"`
	Token             string   `json:"token_endpoint,omitempty"`
	DeviceCode        string   `json:"device_authorization_endpoint,omitempty"`
	EndSession        string   `json:"end_session_endpoint,omitempty"`
	JWKS              string   `json:"jwks_uri,omitempty"`
	Issuer            string   `json:"issuer,omitempty"`
	AccessTokenIssuer string   `json:"access_token_issuer,omitempty"`
	AuthMethods       []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	SigningAlgs       []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	Environment       string   `json:"environment,omitempty"`
}

// storeKey names a's entry: the authority, and the instance discovery
// endpoint when instance discovery vouched for its host (the environment
// comes from it).
func (r *resolver) storeKey(a authority) string {
	if r.needsInstanceDiscovery(a) {
		return a.String() + " instance_discovery=" + r.discoveryEndpoint
	}
	return a.String()
}

// fetchOrLoad returns a's endpoints and when they were discovered: from
// the metadata store when it holds a fresh document that passes
// revalidation, else from the authority (then written to the store).
func (r *resolver) fetchOrLoad(ctx context.Context, a authority, retry bool) (*endpoints, time.Time, error) {
	if r.metaStore != nil {
		if e, at, ok := r.loadStored(ctx, a); ok {
			return e, at, nil
		}
	}
	e, err := r.fetch(ctx, a, retry)
	now := r.clock()
	if err == nil && r.metaStore != nil {
		r.saveStored(ctx, a, e, now)
	}
	return e, now, err
}

// metadataSectionOf returns the entries of a metadata document; an empty
// map for nil.
func metadataSectionOf(doc []byte) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	top := map[string]json.RawMessage{}
	entries := map[string]json.RawMessage{}
	if len(doc) == 0 {
		return top, entries, nil
	}
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, nil, errors.New("the metadata document is not a JSON object")
	}
	if raw, ok := top[metadataSection]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, nil, fmt.Errorf("the metadata document's %s is not an object", metadataSection)
		}
	}
	return top, entries, nil
}

// loadStored reads a's entry from the metadata store.
func (r *resolver) loadStored(ctx context.Context, a authority) (*endpoints, time.Time, bool) {
	doc, err := r.metaStore.Load(ctx, MetadataPartition)
	if err != nil {
		r.log.debug(ctx, "flow: the metadata store failed; asking the authority", slog.String("error", err.Error()))
		return nil, time.Time{}, false
	}
	_, entries, err := metadataSectionOf(doc)
	if err != nil {
		r.log.debug(ctx, "flow: the stored metadata is ignored", slog.String("authority", a.String()), slog.String("reason", err.Error()))
		return nil, time.Time{}, false
	}
	raw, ok := entries[r.storeKey(a)]
	if !ok {
		return nil, time.Time{}, false
	}
	var s storedEndpoints
	if err := json.Unmarshal(raw, &s); err != nil {
		r.log.debug(ctx, "flow: the stored metadata is ignored", slog.String("authority", a.String()), slog.String("reason", "malformed entry"))
		return nil, time.Time{}, false
	}
	at := time.Unix(s.FetchedAt, 0)
	if age := r.clock().Sub(at); age >= discoveryTTL || age < -discoveryTTL {
		return nil, time.Time{}, false
	}
	fixedEnv := ""
	if !r.needsInstanceDiscovery(a) {
		fixedEnv = a.environment()
	}
	e, err := s.endpoints(a, fixedEnv)
	if err != nil {
		r.log.debug(ctx, "flow: the stored metadata is ignored", slog.String("authority", a.String()), slog.String("reason", err.Error()))
		return nil, time.Time{}, false
	}
	r.log.debug(ctx, "flow: authority metadata read from the metadata store",
		slog.String("authority", a.String()), slog.Time("fetched_at", at))
	return e, at, true
}

// saveStored writes a's entry to the metadata store, keeping the other
// entries (of other authorities, from other processes).
func (r *resolver) saveStored(ctx context.Context, a authority, e *endpoints, at time.Time) {
	entry, err := json.Marshal(storedEndpoints{
		FetchedAt:     at.Unix(),
		Authorization: e.authorization, Token: e.token, DeviceCode: e.deviceCode, EndSession: e.endSession, JWKS: e.jwks,
		Issuer: e.issuer, AccessTokenIssuer: e.accessTokenIssuer,
		AuthMethods: e.authMethods, SigningAlgs: e.signingAlgs, Environment: e.environment,
	})
	if err != nil {
		return
	}
	key := r.storeKey(a)
	err = r.metaStore.Update(ctx, MetadataPartition, func(old []byte) ([]byte, error) {
		top, entries, err := metadataSectionOf(old)
		if err != nil {
			// Not ours to repair: another writer's data is left as it is.
			return nil, err
		}
		entries[key] = entry
		section, err := json.Marshal(entries)
		if err != nil {
			return nil, err
		}
		top[metadataSection] = section
		return json.Marshal(top)
	})
	if err != nil {
		r.log.debug(ctx, "flow: the authority's metadata was not stored", slog.String("authority", a.String()), slog.String("error", err.Error()))
	}
}

// endpoints checks a stored entry against a, the authority it is stored
// for, and returns it as a's endpoints. Every endpoint must be on a's
// origin; the issuers on its host; the environment must be fixedEnv,
// unless that is empty (instance discovery named it).
func (s storedEndpoints) endpoints(a authority, fixedEnv string) (*endpoints, error) {
	if s.Token == "" || s.Authorization == "" {
		return nil, errors.New("no token or authorization endpoint")
	}
	for _, u := range []string{s.Authorization, s.Token, s.DeviceCode, s.EndSession, s.JWKS} {
		if u == "" {
			continue
		}
		if err := onOrigin(u, a); err != nil {
			return nil, err
		}
	}
	if a.kind == kindOIDC {
		if err := checkIssuer(s.Issuer, a); err != nil {
			return nil, err
		}
	}
	for _, iss := range []string{s.Issuer, s.AccessTokenIssuer} {
		if iss == "" {
			continue
		}
		u, err := url.Parse(iss)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !strings.EqualFold(u.Host, a.host) {
			return nil, fmt.Errorf("an issuer that is not on the authority's host %s", a.host)
		}
	}
	// A computed environment (fixedEnv) is what the entry must hold; it may
	// have a path (an OpenID Connect issuer's environment is its URL
	// without the scheme). One that instance discovery named is a host.
	env := s.Environment
	if fixedEnv != "" && env != fixedEnv ||
		fixedEnv == "" && (env == "" || env != strings.ToLower(env) || strings.ContainsAny(env, "/\\?#@ \t\r\n")) {
		return nil, errors.New("a bad environment")
	}
	e := &endpoints{
		authority:         a,
		authorization:     s.Authorization,
		token:             s.Token,
		deviceCode:        s.DeviceCode,
		endSession:        s.EndSession,
		jwks:              s.JWKS,
		issuer:            s.Issuer,
		accessTokenIssuer: s.AccessTokenIssuer,
		tenantID:          tenantIDOf(s.Issuer),
		authMethods:       s.AuthMethods,
		signingAlgs:       s.SigningAlgs,
		environment:       env,
		realm:             a.realm(),
		discovered:        true,
	}
	if st, ok := a.staticEndpoints(); ok {
		// As after a discovery: the computed endpoints stay authoritative.
		e.authorization, e.token, e.deviceCode, e.endSession = st.authorization, st.token, or(s.DeviceCode, st.deviceCode), or(s.EndSession, st.endSession)
		e.jwks = or(s.JWKS, st.jwks)
	}
	return e, nil
}

// onOrigin checks that raw is an absolute URL on a's origin: the same
// scheme, host and port, no user information.
func onOrigin(raw string, a authority) error {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || !strings.EqualFold(u.Scheme, a.scheme) || !strings.EqualFold(u.Host, a.host) {
		return fmt.Errorf("an endpoint that is not on the authority's origin %s://%s", a.scheme, a.host)
	}
	return nil
}
