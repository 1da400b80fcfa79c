package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Metadata is an OpenID Connect discovery document
// (/.well-known/openid-configuration): the fields flow uses.
type Metadata struct {
	Issuer                      string   `json:"issuer"`
	AccessTokenIssuer           string   `json:"access_token_issuer"` // AD FS: the issuer of its access tokens
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	EndSessionEndpoint          string   `json:"end_session_endpoint"`
	JWKSURI                     string   `json:"jwks_uri"`
	AuthMethods                 []string `json:"token_endpoint_auth_methods_supported"`
	SigningAlgs                 []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	DPoPAlgs                    []string `json:"dpop_signing_alg_values_supported"` // RFC 9449 section 5.1
}

// ParseMetadata reads a discovery document. It requires a JSON object
// with a token_endpoint; every endpoint it names must be an absolute
// https URL (http only for a loopback host), so a document cannot send a
// client's secrets in the clear.
func ParseMetadata(body []byte) (*Metadata, error) {
	var m Metadata
	if err := decodeObject(body, &m); err != nil {
		return nil, fmt.Errorf("%w: discovery document: %s", ErrMalformedResponse, err)
	}
	if m.TokenEndpoint == "" {
		return nil, fmt.Errorf("%w: discovery document has no token_endpoint", ErrMalformedResponse)
	}
	for _, f := range []struct{ name, v string }{
		{"token_endpoint", m.TokenEndpoint},
		{"authorization_endpoint", m.AuthorizationEndpoint},
		{"device_authorization_endpoint", m.DeviceAuthorizationEndpoint},
		{"end_session_endpoint", m.EndSessionEndpoint},
		{"jwks_uri", m.JWKSURI},
	} {
		if f.v == "" {
			continue
		}
		if err := CheckEndpoint(f.v); err != nil {
			return nil, fmt.Errorf("%w: discovery document's %s: %w", ErrMalformedResponse, f.name, err)
		}
	}
	return &m, nil
}

// InstanceDiscovery is Entra's instance discovery answer
// (/common/discovery/instance).
type InstanceDiscovery struct {
	// TenantDiscoveryEndpoint is the discovery document of the authority
	// asked about.
	TenantDiscoveryEndpoint string `json:"tenant_discovery_endpoint"`
	// Metadata are the alias groups of the clouds Entra knows.
	Metadata []CloudMetadata `json:"metadata"`
}

// CloudMetadata is one cloud's alias group in [InstanceDiscovery].
type CloudMetadata struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

// ParseInstanceDiscovery reads an instance discovery answer. It requires a
// JSON object whose tenant_discovery_endpoint is an https URL (http only
// for a loopback host).
func ParseInstanceDiscovery(body []byte) (*InstanceDiscovery, error) {
	var d InstanceDiscovery
	if err := decodeObject(body, &d); err != nil {
		return nil, fmt.Errorf("%w: instance discovery: %s", ErrMalformedResponse, err)
	}
	if d.TenantDiscoveryEndpoint == "" {
		return nil, fmt.Errorf("%w: instance discovery has no tenant_discovery_endpoint", ErrMalformedResponse)
	}
	if err := CheckEndpoint(d.TenantDiscoveryEndpoint); err != nil {
		return nil, fmt.Errorf("%w: instance discovery's tenant_discovery_endpoint: %w", ErrMalformedResponse, err)
	}
	return &d, nil
}

// CloudOf returns the alias group that lists host, if any.
func (d *InstanceDiscovery) CloudOf(host string) (CloudMetadata, bool) {
	for _, c := range d.Metadata {
		for _, a := range c.Aliases {
			if strings.EqualFold(a, host) {
				return c, true
			}
		}
	}
	return CloudMetadata{}, false
}

// decodeObject decodes a JSON object into v, describing failures without
// quoting the input.
func decodeObject(body []byte, v any) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '{' {
		return fmt.Errorf("not a JSON object")
	}
	if err := json.Unmarshal(t, v); err != nil {
		return fmt.Errorf("%s", jsonProblem(err))
	}
	return nil
}

// CheckEndpoint reports whether raw is an absolute URL fit to send
// credentials to: https, or http to a loopback host (127.0.0.0/8, ::1,
// localhost), with no user information or fragment.
func CheckEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL")
	}
	if u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("not an absolute URL")
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("URL has user information or a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http is allowed only to a loopback host")
	}
	return fmt.Errorf("scheme %q is not https", u.Scheme)
}

// IsLoopback reports whether host (without port) is a loopback host:
// localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return ip != nil && ip.IsLoopback()
}
