package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// defaultClientID is the application a user signs in to without
// --client-id or AZURE_CLIENT_ID: Azure CLI's public client, which
// azidentity's DeviceCodeCredential and InteractiveBrowserCredential use
// by default too. It is preauthorized for Microsoft Graph and Azure
// Resource Manager, and its refresh tokens serve every resource.
const defaultClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// defaultAuthorityHost and defaultTenant make the authority of a user's
// sign-in without flags: any work or school account.
const (
	defaultAuthorityHost = "https://login.microsoftonline.com"
	defaultTenant        = "organizations"
)

// options are the command line's flags.
type options struct {
	authority  string
	tenant     string
	clientID   string
	scopes     scopeList
	account    string
	oidc       bool
	verbose    bool
	secretFile string
	certFile   string

	// login
	interactive bool
	claims      string
	timeout     time.Duration
	redirectURI string
	// token, accounts
	jsonOut bool
	// get, post…
	data    string
	headers headerList
	// logout
	all bool

	given map[string]bool // the flags given on the command line
}

// common registers the flags every command takes.
func (o *options) common(fs *flag.FlagSet) {
	fs.StringVar(&o.authority, "authority", "", "the authority `URL`: a host such as https://login.microsoftonline.com, or a whole authority with its tenant")
	fs.StringVar(&o.tenant, "tenant", "", "the tenant `ID` or domain (default organizations for a user, AZURE_TENANT_ID)")
	fs.StringVar(&o.clientID, "client-id", "", "the application (client) `ID` (default AZURE_CLIENT_ID, else Azure CLI's public client)")
	fs.Var(&o.scopes, "scope", "a `scope` to ask for; repeat the flag or separate scopes with spaces")
	fs.StringVar(&o.account, "account", "", "the signed-in account to use, by `username` (default: the last one signed in)")
	fs.BoolVar(&o.oidc, "oidc", false, "the authority is an OpenID Connect issuer, not Entra ID")
	fs.StringVar(&o.secretFile, "client-secret-file", "", "sign in as the application with the client secret in `file`")
	fs.StringVar(&o.certFile, "certificate", "", "sign in as the application with the certificate and key in `file` (PEM or PKCS#12)")
	fs.BoolVar(&o.verbose, "verbose", false, "log what is asked of whom, and the timings, to standard error (never a secret)")
	fs.BoolVar(&o.verbose, "v", false, aliasPrefix+"verbose")
}

// scopeList is a repeatable flag of scopes, each value split on spaces
// and commas.
type scopeList []string

func (s *scopeList) String() string { return strings.Join(*s, " ") }

func (s *scopeList) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' }) {
		*s = append(*s, f)
	}
	return nil
}

// headerList is a repeatable "Name: value" flag.
type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(v string) error {
	name, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("a header is Name: value, not %q", v)
	}
	*h = append(*h, v)
	return nil
}

// profile is the last 'bearer login': what the other commands use when
// neither the flags nor the environment say otherwise. It holds no secret
// (an application's secret stays in its file, or in the environment).
type profile struct {
	Authority string `json:"authority"`
	OIDC      bool   `json:"oidc,omitempty"`
	ClientID  string `json:"client_id"`
	// A user's sign-in.
	HomeAccountID string `json:"home_account_id,omitempty"`
	Username      string `json:"username,omitempty"`
	// An application's sign-in: where its credential is.
	ClientSecretFile string `json:"client_secret_file,omitempty"`
	CertificateFile  string `json:"certificate_file,omitempty"`
	FromEnvironment  bool   `json:"credential_from_environment,omitempty"`
}

const profileName = "login.json"

// readProfile reads the last sign-in; a zero profile when there is none.
func readProfile(dir string) (profile, error) {
	var p profile
	b, err := os.ReadFile(filepath.Join(dir, profileName))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return profile{}, fmt.Errorf("%s is not a sign-in written by bearer (%v): remove it or run bearer login", filepath.Join(dir, profileName), err)
	}
	return p, nil
}

// writeProfile keeps p as the last sign-in, mode 0600, atomically.
func writeProfile(dir string, p profile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, profileName+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, profileName))
}

// credKind is how a sign-in authenticates.
type credKind int

const (
	credUser       credKind = iota // a user signs in (public client)
	credSecretFile                 // --client-secret-file
	credCertFile                   // --certificate
	credEnvSecret                  // AZURE_CLIENT_SECRET
	credEnvCert                    // AZURE_CLIENT_CERTIFICATE_PATH
)

// settings say which authority, application and identity a command uses.
type settings struct {
	authority string
	oidc      bool
	clientID  string
	cred      credKind
	credFile  string // the secret or certificate file
	// a user's: the account to use (username, or the profile's home
	// account ID); fromProfile is set when authority and client are the
	// last sign-in's.
	username      string
	homeAccountID string
	fromProfile   bool
}

// isApp reports whether the application signs in as itself.
func (s settings) isApp() bool { return s.cred != credUser }

// resolve works out the settings of a command, field by field: the
// flags; then an application configured by the environment
// (AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH with
// AZURE_CLIENT_ID and AZURE_TENANT_ID); then, unless login, the last
// sign-in; then AZURE_CLIENT_ID, AZURE_TENANT_ID and
// AZURE_AUTHORITY_HOST; then the defaults. The last sign-in's account and
// credential are used only with its client ID on its authority host.
func resolve(o *options, getenv func(string) string, last profile, login bool) (settings, error) {
	var s settings
	switch {
	case o.secretFile != "" && o.certFile != "":
		return s, usagef("give --client-secret-file or --certificate, not both")
	case o.secretFile != "":
		s.cred, s.credFile = credSecretFile, o.secretFile
	case o.certFile != "":
		s.cred, s.credFile = credCertFile, o.certFile
	case getenv("AZURE_CLIENT_SECRET") != "":
		s.cred = credEnvSecret
	case getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		s.cred, s.credFile = credEnvCert, getenv("AZURE_CLIENT_CERTIFICATE_PATH")
	}
	envApp := s.cred == credEnvSecret || s.cred == credEnvCert
	if login || envApp {
		last = profile{}
	}

	switch {
	case o.clientID != "":
		s.clientID = o.clientID
	case envApp:
		s.clientID = getenv("AZURE_CLIENT_ID")
	case last.ClientID != "":
		s.clientID = last.ClientID
	default:
		s.clientID = getenv("AZURE_CLIENT_ID")
	}
	if s.clientID == "" {
		if s.isApp() {
			return s, usagef("an application signs in with its client ID: give --client-id or set AZURE_CLIENT_ID")
		}
		s.clientID = defaultClientID
	}

	lastHost := ""
	if last.Authority != "" && !last.OIDC {
		if u, err := url.Parse(last.Authority); err == nil {
			lastHost = u.Scheme + "://" + u.Host
		}
	}
	if o.given["authority"] || o.given["tenant"] || o.given["oidc"] || last.Authority == "" {
		a, err := authorityOf(o, getenv, lastHost, s.isApp())
		if err != nil {
			return s, err
		}
		s.authority, s.oidc = a, o.oidc
	} else {
		s.authority, s.oidc = last.Authority, last.OIDC
	}

	sameApp := last.ClientID != "" && s.clientID == last.ClientID && sameHost(s.authority, last.Authority)
	if sameApp && s.cred == credUser {
		switch {
		case last.ClientSecretFile != "":
			s.cred, s.credFile = credSecretFile, last.ClientSecretFile
		case last.CertificateFile != "":
			s.cred, s.credFile = credCertFile, last.CertificateFile
		case last.FromEnvironment:
			return s, &signInError{msg: "the last sign-in took the application's credential from AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, which are not set: set them, or run bearer login"}
		default:
			s.homeAccountID, s.fromProfile = last.HomeAccountID, true
		}
	}
	s.username = o.account
	return s, nil
}

// sameHost reports whether authorities a and b are on one scheme and
// host.
func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// authorityOf makes the authority URL from --authority, --tenant and
// --oidc, AZURE_AUTHORITY_HOST (else lastHost, else Entra's public
// cloud) and AZURE_TENANT_ID.
func authorityOf(o *options, getenv func(string) string, lastHost string, app bool) (string, error) {
	host := o.authority
	if host == "" {
		host = getenv("AZURE_AUTHORITY_HOST")
	}
	if host == "" {
		host = lastHost
	}
	if host == "" {
		host = defaultAuthorityHost
	}
	u, err := url.Parse(host)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", usagef("the authority %q is not an https URL", host)
	}
	whole := strings.Trim(u.Path, "/") != ""
	if o.oidc {
		if o.tenant != "" {
			return "", usagef("--tenant does not apply to an OpenID Connect authority: give its issuer URL with --authority")
		}
		if o.authority == "" {
			return "", usagef("--oidc needs --authority (the issuer URL)")
		}
		return strings.TrimRight(host, "/"), nil
	}
	if whole {
		if o.tenant != "" {
			return "", usagef("--authority %s names a tenant already: leave out --tenant, or give the host alone", host)
		}
		return strings.TrimRight(host, "/"), nil
	}
	tenant := o.tenant
	if tenant == "" {
		tenant = getenv("AZURE_TENANT_ID")
	}
	if tenant == "" {
		if app {
			return "", usagef("an application signs in to one tenant: give --tenant or set AZURE_TENANT_ID")
		}
		tenant = defaultTenant
	}
	return strings.TrimRight(host, "/") + "/" + url.PathEscape(tenant), nil
}

// userConfigDir is os.UserConfigDir reading the environment through
// getenv.
func userConfigDir(getenv func(string) string) (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := getenv("AppData"); d != "" {
			return d, nil
		}
		return "", errors.New("%AppData% is not set")
	case "darwin", "ios":
		if h := getenv("HOME"); h != "" {
			return h + "/Library/Application Support", nil
		}
		return "", errors.New("$HOME is not set")
	case "plan9":
		if h := getenv("home"); h != "" {
			return h + "/lib", nil
		}
		return "", errors.New("$home is not set")
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		if !filepath.IsAbs(d) {
			return "", errors.New("the path in $XDG_CONFIG_HOME is relative")
		}
		return d, nil
	}
	if h := getenv("HOME"); h != "" {
		return h + "/.config", nil
	}
	return "", errors.New("neither $XDG_CONFIG_HOME nor $HOME is set")
}
