package flow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/credential"
)

// ErrUnavailable is wrapped by the error of a credential that is not
// configured where the program runs: [NewWorkloadIdentity] without its
// environment variables, [NewDefault]'s source when no credential is
// (see [ChainError]).
var ErrUnavailable = errors.New("flow: credential not available")

// The environment variables of [NewDefault] and [NewWorkloadIdentity], as
// azidentity reads them.
const (
	envTenantID             = "AZURE_TENANT_ID"
	envClientID             = "AZURE_CLIENT_ID"
	envClientSecret         = "AZURE_CLIENT_SECRET"
	envCertificatePath      = "AZURE_CLIENT_CERTIFICATE_PATH"
	envCertificatePassword  = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
	envSendCertificateChain = "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN"
	envFederatedTokenFile   = "AZURE_FEDERATED_TOKEN_FILE"
	envAuthorityHost        = "AZURE_AUTHORITY_HOST"
)

// DefaultAuthorityHost is Entra's public cloud, the authority host of
// [NewDefault] and [NewWorkloadIdentity] when AZURE_AUTHORITY_HOST is not
// set.
const DefaultAuthorityHost = "https://login.microsoftonline.com"

// maxCertificateFile bounds the certificate file AZURE_CLIENT_CERTIFICATE_PATH names.
const maxCertificateFile = 1 << 20

// WithGetenv sets where [NewDefault], [NewManagedIdentity],
// [NewWorkloadIdentity] and [AutoDetectRegion] read environment
// variables; the default is [os.Getenv]. Tests, and programs that keep
// their settings elsewhere, pass a function of their own. Used by every
// flow that reads the environment.
func WithGetenv(getenv func(key string) string) Option {
	return func(c *config) {
		if getenv != nil {
			c.getenv = getenv
		}
	}
}

// Names of the credentials of the chain, as errors and logs show them.
const (
	credEnvironment      = "environment"
	credWorkloadIdentity = "workload identity"
	credManagedIdentity  = "managed identity"
)

// Default is the credential [NewDefault] chose: a [bearer.TokenSource]
// of the first credential configured where the program runs. It is safe
// for concurrent use.
type Default struct {
	name  string
	src   bearer.TokenSource
	mi    *ManagedIdentity // the managed identity, when chosen
	tried []ChainAttempt   // why the credentials before it were not chosen
}

// NewDefault returns the first credential configured where the program
// runs, trying in this order, as azidentity's DefaultAzureCredential does
// (without its developer tools):
//
//  1. environment: AZURE_TENANT_ID and AZURE_CLIENT_ID, with
//     AZURE_CLIENT_SECRET, or AZURE_CLIENT_CERTIFICATE_PATH (a PEM or
//     PKCS#12 file holding the certificate and its private key; its
//     password in AZURE_CLIENT_CERTIFICATE_PASSWORD; x5c sent when
//     AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is true or 1): a
//     [Confidential] application's [Confidential.ClientSource];
//  2. workload identity ([NewWorkloadIdentity]): AZURE_TENANT_ID,
//     AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE;
//  3. managed identity ([NewManagedIdentity]): the source detected from
//     the environment, for the user-assigned identity whose client ID is
//     AZURE_CLIENT_ID when it is set and the source takes one (IMDS, App
//     Service, Azure Arc, Azure ML) and no WithUserAssigned… option was
//     given, else the system-assigned one.
//
// The authority is AZURE_AUTHORITY_HOST (default [DefaultAuthorityHost])
// followed by AZURE_TENANT_ID; it replaces [WithAuthority]. The other
// options apply to whichever credential is chosen. [WithGetenv] replaces
// the environment.
//
// The first credential whose variables are set is chosen, and only the
// chosen one is used: one that is configured but fails (a certificate
// file that does not parse here; a token request the authority refuses,
// later) returns its error, naming it, rather than fall through to the
// next. The choice is logged ([WithLogger], at info level). When only the
// instance metadata service remains (no variable of any source set), it
// is probed before its first use: when it does not answer within a
// second (this is not an Azure host), the source's Token fails with a
// [*ChainError] that says what each credential needed and why it is not
// available, wrapping [ErrUnavailable].
func NewDefault(opts ...Option) (*Default, error) {
	cfg, err := newConfig(opts...)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	d := &Default{}
	conf, err := newEnvironmentCredential(cfg.getenv, opts)
	switch {
	case err == nil:
		d.name, d.src = conf.name, conf.app.ClientSource()
	case !errors.Is(err, ErrUnavailable):
		return nil, fmt.Errorf("flow: default credential: %s: %w", credEnvironment, err)
	default:
		d.tried = append(d.tried, ChainAttempt{Credential: credEnvironment, Err: err})
	}
	if d.src == nil {
		app, err := NewWorkloadIdentity(opts...)
		switch {
		case err == nil:
			d.name, d.src = credWorkloadIdentity, app.ClientSource()
		case !errors.Is(err, ErrUnavailable):
			return nil, fmt.Errorf("flow: default credential: %s: %w", credWorkloadIdentity, err)
		default:
			d.tried = append(d.tried, ChainAttempt{Credential: credWorkloadIdentity, Err: err})
		}
	}
	if d.src == nil {
		micfg, err := newConfig(opts...)
		if err != nil {
			return nil, err
		}
		if clientID := strings.TrimSpace(cfg.getenv(envClientID)); clientID != "" && !micfg.mi.given {
			// The source decides whether AZURE_CLIENT_ID can name the identity.
			found := &ManagedIdentity{}
			if found.detect(micfg) == nil && found.takesClientID() {
				micfg.mi.kind, micfg.mi.id = miClientID, clientID
			}
		}
		mi, err := newManagedIdentity(micfg)
		if err != nil {
			return nil, fmt.Errorf("flow: default credential: %s: %w", credManagedIdentity, err)
		}
		mi.probeIMDS = mi.src == SourceIMDS && !imdsConfigured(cfg)
		d.name, d.src, d.mi = credManagedIdentity+" ("+string(mi.src)+")", mi.Source(), mi
	}
	attrs := []slog.Attr{slog.String("credential", d.name)}
	for _, t := range d.tried {
		attrs = append(attrs, slog.String("skipped_"+strings.ReplaceAll(t.Credential, " ", "_"), t.Err.Error()))
	}
	cfg.logger.LogAttrs(ctx, slog.LevelInfo, "flow: default credential chosen", attrs...)
	return d, nil
}

// imdsConfigured reports whether the instance metadata service was named
// (WithIMDSEndpoint, AZURE_POD_IDENTITY_AUTHORITY_HOST) rather than
// chosen for want of any other source.
func imdsConfigured(cfg *config) bool {
	return cfg.mi.imdsEndpoint != "" || cfg.getenv(envPodIdentityHost) != ""
}

// takesClientID reports whether m's source takes a user-assigned client
// ID.
func (m *ManagedIdentity) takesClientID() bool {
	switch m.src {
	case SourceIMDS, SourceAppService, SourceAzureArc, SourceAzureML:
		return true
	}
	return false
}

// Credential names the credential chosen: "environment (client secret)",
// "environment (certificate)", "workload identity" or
// "managed identity (IMDS)" (with the source's name).
func (d *Default) Credential() string { return d.name }

// Token returns a token of the chosen credential for req. Its errors
// name the credential; see [NewDefault] for the [*ChainError] of an
// instance metadata service chosen by default that does not answer.
func (d *Default) Token(ctx context.Context, req bearer.TokenRequest) (bearer.Token, error) {
	tok, err := d.src.Token(ctx, req)
	if err == nil {
		return tok, nil
	}
	if d.mi != nil && d.mi.probeIMDS && errors.Is(err, ErrUnavailable) {
		attempts := append(append([]ChainAttempt(nil), d.tried...), ChainAttempt{Credential: d.name, Err: err})
		return bearer.Token{}, &ChainError{Attempts: attempts}
	}
	if d.mi != nil && strings.HasPrefix(err.Error(), "flow: managed identity (") {
		return bearer.Token{}, fmt.Errorf("flow: default credential: %w", err) // it names itself
	}
	return bearer.Token{}, fmt.Errorf("flow: default credential: %s: %w", d.name, err)
}

// ChainAttempt is one credential [NewDefault] tried and why it is not
// available.
type ChainAttempt struct {
	// Credential names the credential: "environment",
	// "workload identity", "managed identity (IMDS)".
	Credential string
	// Err says why it is not available; it wraps [ErrUnavailable].
	Err error
}

// ChainError is the error of [NewDefault]'s source when no credential is
// available: what each one tried and why. It matches [ErrUnavailable]
// with errors.Is, and each attempt's error with errors.Is and errors.As.
type ChainError struct {
	Attempts []ChainAttempt
}

// Error lists every attempt.
func (e *ChainError) Error() string {
	var b strings.Builder
	b.WriteString("flow: no credential is available here; tried ")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.Credential + ": " + strings.TrimPrefix(a.Err.Error(), ErrUnavailable.Error()+": "))
	}
	return b.String()
}

// Unwrap returns [ErrUnavailable] and every attempt's error.
func (e *ChainError) Unwrap() []error {
	errs := []error{ErrUnavailable}
	for _, a := range e.Attempts {
		errs = append(errs, a.Err)
	}
	return errs
}

// authorityFromEnv is the authority of the environment's tenant on
// AZURE_AUTHORITY_HOST (default DefaultAuthorityHost).
func authorityFromEnv(getenv func(string) string, tenant string) string {
	host := strings.TrimRight(strings.TrimSpace(getenv(envAuthorityHost)), "/")
	if host == "" {
		host = DefaultAuthorityHost
	}
	return host + "/" + strings.TrimSpace(tenant)
}

// missing returns an error wrapping ErrUnavailable that lists the unset
// variables of names, or nil when all are set.
func missing(getenv func(string) string, names ...string) error {
	var unset []string
	for _, n := range names {
		if strings.TrimSpace(getenv(n)) == "" {
			unset = append(unset, n)
		}
	}
	if len(unset) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s not set", ErrUnavailable, strings.Join(unset, ", "))
}

// NewWorkloadIdentity returns the confidential client application of a
// Kubernetes workload identity (Azure Workload Identity, as AKS sets it
// up): client AZURE_CLIENT_ID of tenant AZURE_TENANT_ID at
// AZURE_AUTHORITY_HOST (default [DefaultAuthorityHost]), authenticating
// with the service account token in AZURE_FEDERATED_TOKEN_FILE
// ([credential.AssertionFile]: read again whenever Kubernetes rotates the
// file). Its [Confidential.ClientSource] is a [bearer.TokenSource].
//
// When one of the three variables is not set, it fails with an error
// wrapping [ErrUnavailable] that names them. [WithAuthority] is replaced
// by the environment's authority; the other options apply.
func NewWorkloadIdentity(opts ...Option) (*Confidential, error) {
	cfg, err := newConfig(opts...)
	if err != nil {
		return nil, err
	}
	env := cfg.getenv
	if err := missing(env, envFederatedTokenFile, envTenantID, envClientID); err != nil {
		return nil, err
	}
	opts = append(opts[:len(opts):len(opts)], WithAuthority(authorityFromEnv(env, env(envTenantID))))
	return NewConfidential(strings.TrimSpace(env(envClientID)), credential.AssertionFile(env(envFederatedTokenFile)), opts...)
}

// envCredential is the confidential application of the environment
// credential and what authenticates it.
type envCredential struct {
	name string
	app  *Confidential
}

// newEnvironmentCredential builds the environment credential of
// NewDefault: an error wrapping ErrUnavailable when its variables are not
// set, another error when they are and do not work.
func newEnvironmentCredential(getenv func(string) string, opts []Option) (*envCredential, error) {
	if err := missing(getenv, envTenantID, envClientID); err != nil {
		return nil, err
	}
	secret, certPath := getenv(envClientSecret), getenv(envCertificatePath)
	var (
		cred credential.Credential
		name string
	)
	switch {
	case secret != "":
		cred, name = credential.Secret(secret), credEnvironment+" (client secret)"
	case certPath != "":
		c, err := certificateFromFile(certPath, getenv(envCertificatePassword), getenv(envSendCertificateChain))
		if err != nil {
			return nil, err
		}
		cred, name = c, credEnvironment+" (certificate)"
	default:
		return nil, fmt.Errorf("%w: %s and %s not set", ErrUnavailable, envClientSecret, envCertificatePath)
	}
	opts = append(opts[:len(opts):len(opts)], WithAuthority(authorityFromEnv(getenv, getenv(envTenantID))))
	app, err := NewConfidential(strings.TrimSpace(getenv(envClientID)), cred, opts...)
	if err != nil {
		return nil, err
	}
	return &envCredential{name: name, app: app}, nil
}

// certificateFromFile reads the certificate credential of
// AZURE_CLIENT_CERTIFICATE_PATH. Errors never show the file's content or
// the password.
func certificateFromFile(path, password, sendChain string) (credential.Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envCertificatePath, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCertificateFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s %q: reading failed", envCertificatePath, path)
	}
	if len(data) > maxCertificateFile {
		return nil, fmt.Errorf("%s %q is over %d bytes: not a certificate file", envCertificatePath, path, maxCertificateFile)
	}
	certs, key, err := credential.ParseCertificates(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envCertificatePath, path, err)
	}
	var copts []credential.CertificateOption
	if v := strings.ToLower(strings.TrimSpace(sendChain)); v == "true" || v == "1" {
		copts = append(copts, credential.WithX5C())
	}
	c, err := credential.Certificate(certs, key, copts...)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", envCertificatePath, path, err)
	}
	return c, nil
}
