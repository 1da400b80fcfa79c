package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bearerhttp/bearer/authtest"
)

// config is the JSON file of -config. Field names are snake_case; unknown
// fields are errors, so typos do not pass silently.
type config struct {
	Clients           []clientConfig          `json:"clients"`
	Users             []userConfig            `json:"users"`
	APIs              []apiConfig             `json:"apis"`
	ManagedIdentities []managedIdentityConfig `json:"managed_identities"`
	Tenants           map[string]string       `json:"tenants"`
	Region            string                  `json:"region"`
	dir               string                  // the file's directory, for relative certificate paths
}

type clientConfig struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Secret           string   `json:"secret"`
	Certificates     []string `json:"certificates"`      // PEM text
	CertificateFiles []string `json:"certificate_files"` // PEM files, relative to the config file
	Public           bool     `json:"public"`
	RedirectURIs     []string `json:"redirect_uris"`
	Roles            []string `json:"roles"`
	FamilyID         string   `json:"family_id"`
	StrictRotation   bool     `json:"strict_rotation"`
	RequireConsent   bool     `json:"require_consent"`
}

type userConfig struct {
	Username       string   `json:"username"`
	Password       string   `json:"password"`
	ObjectID       string   `json:"object_id"`
	TenantID       string   `json:"tenant_id"`
	Tenants        []string `json:"tenants"`
	DisplayName    string   `json:"display_name"`
	ACR            string   `json:"acr"`
	MFA            bool     `json:"mfa"`
	DeclineConsent bool     `json:"decline_consent"`
}

type managedIdentityConfig struct {
	ClientID   string `json:"client_id"`
	ObjectID   string `json:"object_id"`
	ResourceID string `json:"resource_id"`
}

// apiConfig mirrors authtest.API with snake_case names.
type apiConfig struct {
	Audience string   `json:"audience"`
	AppID    string   `json:"app_id"`
	Scopes   []string `json:"scopes"`
	Roles    []string `json:"roles"`
}

// UnmarshalJSON reads a config strictly.
func (c *config) UnmarshalJSON(b []byte) error {
	type plain config // config without this method
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode((*plain)(c))
}

// maxConfigSize bounds the configuration file.
const maxConfigSize = 16 << 20

func loadConfig(path string) (config, error) {
	var c config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if len(b) > maxConfigSize {
		return c, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigSize)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	return c, c.validate()
}

// validate checks what registration would otherwise panic on.
func (c config) validate() error {
	for i, cl := range c.Clients {
		if cl.ID == "" {
			return fmt.Errorf("config: clients[%d] has no id", i)
		}
	}
	for i, u := range c.Users {
		if u.Username == "" {
			return fmt.Errorf("config: users[%d] has no username", i)
		}
	}
	for i, a := range c.APIs {
		if a.Audience == "" {
			return fmt.Errorf("config: apis[%d] has no audience", i)
		}
	}
	for i, m := range c.ManagedIdentities {
		if m.ClientID == "" {
			return fmt.Errorf("config: managed_identities[%d] has no client_id", i)
		}
	}
	return nil
}

// register adds the configuration to srv.
func (c config) register(srv *authtest.Server) error {
	for _, cl := range c.Clients {
		var certs []*x509.Certificate
		for i, p := range cl.Certificates {
			cs, err := parseCertificates([]byte(p))
			if err != nil {
				return fmt.Errorf("config: client %s: certificates[%d]: %w", cl.ID, i, err)
			}
			certs = append(certs, cs...)
		}
		for _, f := range cl.CertificateFiles {
			if !filepath.IsAbs(f) {
				f = filepath.Join(c.dir, f)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("config: client %s: %w", cl.ID, err)
			}
			cs, err := parseCertificates(b)
			if err != nil {
				return fmt.Errorf("config: client %s: %s: %w", cl.ID, f, err)
			}
			certs = append(certs, cs...)
		}
		srv.AddClient(authtest.Client{
			ID: cl.ID, Name: cl.Name, Secret: cl.Secret, Certificates: certs, Public: cl.Public,
			RedirectURIs: cl.RedirectURIs, Roles: cl.Roles, FamilyID: cl.FamilyID,
			StrictRotation: cl.StrictRotation, RequireConsent: cl.RequireConsent,
		})
	}
	for _, u := range c.Users {
		srv.AddUser(authtest.User{
			Username: u.Username, Password: u.Password, ObjectID: u.ObjectID, TenantID: u.TenantID,
			Tenants: u.Tenants, DisplayName: u.DisplayName, ACR: u.ACR, MFA: u.MFA, DeclineConsent: u.DeclineConsent,
		})
	}
	for _, a := range c.APIs {
		srv.AddAPI(authtest.API{Audience: a.Audience, AppID: a.AppID, Scopes: a.Scopes, Roles: a.Roles})
	}
	for _, m := range c.ManagedIdentities {
		srv.AddManagedIdentity(authtest.ManagedIdentity{ClientID: m.ClientID, ObjectID: m.ObjectID, ResourceID: m.ResourceID})
	}
	for name, id := range c.Tenants {
		srv.AddTenantName(name, id)
	}
	return nil
}

// parseCertificates reads every CERTIFICATE block of PEM data (other
// blocks, such as a private key in the same file, are skipped).
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}
