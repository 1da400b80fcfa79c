package flow

import (
	"context"
	"crypto/sha1" // #nosec G505 -- Service Fabric names its certificate by SHA-1 thumbprint
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
	"unicode"

	"github.com/bearerhttp/bearer/internal/oauth"
	"github.com/bearerhttp/bearer/internal/uuid"
)

// The environment variables MSAL reads to detect the managed identity
// source.
const (
	envIdentityEndpoint   = "IDENTITY_ENDPOINT"
	envIdentityHeader     = "IDENTITY_HEADER"
	envIdentityThumbprint = "IDENTITY_SERVER_THUMBPRINT"
	envIMDSEndpoint       = "IMDS_ENDPOINT"
	envMSIEndpoint        = "MSI_ENDPOINT"
	envMSISecret          = "MSI_SECRET"
	envPodIdentityHost    = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	envMLDefaultClientID  = "DEFAULT_IDENTITY_CLIENT_ID"
)

// API versions of the sources, as MSAL sends them.
const (
	imdsAPIVersion          = "2018-02-01"
	appServiceAPIVersion    = "2019-08-01"
	azureArcAPIVersion      = "2020-06-01"
	serviceFabricAPIVersion = "2019-07-01-preview"
	azureMLAPIVersion       = "2017-09-01"
)

const (
	// imdsTokenPath is the instance metadata service's token endpoint.
	imdsTokenPath = "/metadata/identity/oauth2/token"
	// defaultArcEndpoint is the Azure Arc agent's token endpoint when
	// IDENTITY_ENDPOINT does not name one.
	defaultArcEndpoint = "http://127.0.0.1:40342/metadata/identity/oauth2/token"
	// imdsProbeTimeout bounds the probe NewDefault sends to an instance
	// metadata service it chose by default, as azidentity does: on a
	// machine without one, the link-local address may never answer.
	imdsProbeTimeout = time.Second
)

// detect finds the source in cfg's environment and reads its settings.
func (m *ManagedIdentity) detect(cfg *config) error {
	env := cfg.getenv
	idEndpoint, idHeader := env(envIdentityEndpoint), env(envIdentityHeader)
	msiEndpoint := env(envMSIEndpoint)
	switch {
	case idEndpoint != "" && idHeader != "":
		m.endpoint, m.secret = idEndpoint, idHeader
		m.src = SourceAppService
		if env(envIdentityThumbprint) != "" {
			m.src = SourceServiceFabric
		}
	case msiEndpoint != "":
		m.endpoint = msiEndpoint
		m.src = SourceCloudShell
		if s := env(envMSISecret); s != "" {
			m.src, m.secret, m.mlClient = SourceAzureML, s, env(envMLDefaultClientID)
		}
	case idEndpoint != "" && env(envIMDSEndpoint) != "":
		m.src, m.endpoint = SourceAzureArc, idEndpoint
	case arcAgentInstalled(cfg):
		m.src, m.endpoint = SourceAzureArc, defaultArcEndpoint
		if idEndpoint != "" {
			m.endpoint = idEndpoint // as MSAL Go reads it
		}
	default:
		m.src = SourceIMDS
		base := cfg.mi.imdsEndpoint
		if base == "" {
			base = env(envPodIdentityHost)
		}
		if base == "" {
			base = DefaultIMDSEndpoint
		}
		m.endpoint = strings.TrimRight(base, "/") + imdsTokenPath
	}
	if err := checkMIEndpoint(m.endpoint, m.src == SourceServiceFabric); err != nil {
		return fmt.Errorf("%w: managed identity (%s): endpoint %s", ErrInvalidOption, m.src, err)
	}
	switch {
	case m.kind == miSystem:
	case m.src == SourceServiceFabric:
		return fmt.Errorf("%w: managed identity (%s): Service Fabric takes no user-assigned identity: the cluster's configuration decides the identity (https://aka.ms/servicefabricmi)", ErrInvalidOption, m.src)
	case m.src == SourceCloudShell:
		return fmt.Errorf("%w: managed identity (%s): Cloud Shell has no user-assigned identity", ErrInvalidOption, m.src)
	case m.src == SourceAzureML && m.kind != miClientID:
		return fmt.Errorf("%w: managed identity (%s): Azure Machine Learning names a user-assigned identity by client ID only", ErrInvalidOption, m.src)
	}
	if m.src == SourceAzureArc {
		m.arcDir = cfg.mi.arcKeyDir
		if m.arcDir == "" {
			m.arcDir = arcKeyDirectory(runtime.GOOS, env)
		}
	}
	return nil
}

// checkMIEndpoint accepts an absolute http or https URL (https only when
// httpsOnly) without user information or fragment, with a host.
func checkMIEndpoint(raw string, httpsOnly bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.User != nil || u.Fragment != "":
		return fmt.Errorf("%q has user information or a fragment", redactEndpoint(u))
	case httpsOnly && u.Scheme != "https":
		return fmt.Errorf("%q is not https", redactEndpoint(u))
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q is not http(s)", redactEndpoint(u))
	}
	return nil
}

// redactEndpoint is u without user information, query and fragment.
func redactEndpoint(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment, c.RawFragment = nil, "", "", ""
	return c.String()
}

// arcAgentInstalled reports whether the Azure Arc agent (himds) is
// installed where the platform puts it.
func arcAgentInstalled(cfg *config) bool {
	path := cfg.mi.himdsPath
	if path == "" {
		switch runtime.GOOS {
		case "linux":
			path = "/opt/azcmagent/bin/himds"
		case "windows":
			if pd := cfg.getenv("ProgramData"); pd != "" {
				path = filepath.Join(pd, "AzureConnectedMachineAgent", "himds.exe")
			}
		}
	}
	if path == "" {
		return false
	}
	_, err := os.Stat(path)
	return err == nil
}

// arcKeyDirectory is where the Azure Arc agent writes its key files on
// goos; "" where Arc does not run.
func arcKeyDirectory(goos string, getenv func(string) string) string {
	switch goos {
	case "linux":
		return "/var/opt/azcmagent/tokens"
	case "windows":
		if pd := getenv("ProgramData"); pd != "" {
			return filepath.Join(pd, "AzureConnectedMachineAgent", "Tokens")
		}
	}
	return ""
}

// wireFor returns the wire client of the managed identity's calls: the
// application's, through a client that ignores proxies when it is
// [http.DefaultClient] (the sources are local addresses no proxy
// reaches), pinned to the certificate thumbprint for Service Fabric, with
// the instance metadata service's retry waits for IMDS.
func (m *ManagedIdentity) wireFor(cfg *config) (*oauth.Client, error) {
	w := cfg.oauthClient()
	if cfg.httpClient == http.DefaultClient {
		w.HTTPClient = imdsClient
	}
	switch m.src {
	case SourceServiceFabric:
		c, err := pinnedClient(cfg.httpClient, cfg.getenv(envIdentityThumbprint))
		if err != nil {
			return nil, fmt.Errorf("%w: managed identity (%s): %w", ErrInvalidOption, m.src, err)
		}
		w.HTTPClient = c
	case SourceIMDS:
		if w.Backoff == nil {
			w.Backoff = imdsBackoff
		}
	}
	return w, nil
}

// imdsRetries is the instance metadata service's retry guidance
// (https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#error-handling),
// as MSAL applies it: 410 (IMDS is being updated, for up to 70 seconds)
// is retried seven times; 404 (the identity is not assigned yet), 408,
// 429, every 5xx and connection errors three times; anything else is
// final.
func imdsRetries(status int) int {
	switch {
	case status == http.StatusGone:
		return 7
	case status == 0, status == http.StatusNotFound, status == http.StatusRequestTimeout,
		status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		return 3
	}
	return 0
}

// imdsBackoff is the wait before an instance metadata service retry: 10
// seconds after a 410 (seven of them cover its 70 seconds), else
// [DefaultBackoff] (Retry-After, else exponential from one second).
func imdsBackoff(retry int, resp *http.Response, now time.Time) time.Duration {
	if resp != nil && resp.StatusCode == http.StatusGone {
		return 10 * time.Second
	}
	return oauth.DefaultBackoff(retry, resp, now)
}

// request sends the source's token request for resource and parses the
// answer.
func (m *ManagedIdentity) request(ctx context.Context, resource, refreshHash string) (*oauth.TokenResponse, error) {
	if m.src == SourceAzureArc {
		return m.requestArc(ctx, resource)
	}
	req, err := m.tokenRequest(resource, refreshHash)
	if err != nil {
		return nil, err
	}
	return m.send(ctx, req)
}

// send sends req and parses a 2xx answer as a managed identity token.
func (m *ManagedIdentity) send(ctx context.Context, req *oauth.Request) (*oauth.TokenResponse, error) {
	resp, err := m.miWire.Do(ctx, req)
	if err != nil {
		recordStatus(ctx, 0, nil)
		return nil, err
	}
	recordStatus(ctx, resp.StatusCode, nil)
	if resp.StatusCode/100 != 2 {
		return nil, resp.Error()
	}
	return parseMIToken(resp.Body, resp.SentAt)
}

// tokenRequest builds the request of every source but Azure Arc's
// second one.
func (m *ManagedIdentity) tokenRequest(resource, refreshHash string) (*oauth.Request, error) {
	u, err := url.Parse(m.endpoint)
	if err != nil {
		return nil, fmt.Errorf("flow: managed identity endpoint: %w", err)
	}
	q := u.Query()
	h := http.Header{}
	req := &oauth.Request{Method: http.MethodGet, Bare: true, Header: h}
	switch m.src {
	case SourceIMDS:
		q.Set("api-version", imdsAPIVersion)
		q.Set("resource", resource)
		m.setSelector(q, "msi_res_id")
		h.Set("Metadata", "true")
		h.Set("x-client-SKU", oauth.SKU)
		h.Set("x-client-Ver", oauth.Version())
		h.Set("x-ms-client-request-id", uuid.New())
		req.Retries = imdsRetries
	case SourceAppService:
		q.Set("api-version", appServiceAPIVersion)
		q.Set("resource", resource)
		m.setSelector(q, "mi_res_id")
		m.setRevocation(q, refreshHash)
		h.Set("X-IDENTITY-HEADER", m.secret)
		h.Set("Metadata", "true") // needed by Azure Automation, harmless elsewhere (MSAL Python)
		req.Secrets = []string{m.secret}
	case SourceServiceFabric:
		q.Set("api-version", serviceFabricAPIVersion)
		q.Set("resource", resource)
		m.setRevocation(q, refreshHash)
		h.Set("Secret", m.secret)
		req.Secrets = []string{m.secret}
	case SourceAzureML:
		q.Set("api-version", azureMLAPIVersion)
		q.Set("resource", resource)
		if m.kind == miClientID {
			q.Set("clientid", m.id)
		} else if m.mlClient != "" {
			q.Set("clientid", m.mlClient)
		}
		h.Set("secret", m.secret)
		req.Secrets = []string{m.secret}
	case SourceCloudShell:
		req.Method = http.MethodPost
		req.Form = url.Values{"resource": {resource}}
		h.Set("Metadata", "true")
	case SourceAzureArc:
		q.Set("api-version", azureArcAPIVersion)
		q.Set("resource", resource)
		m.setSelector(q, "msi_res_id")
		h.Set("Metadata", "true")
	default:
		return nil, fmt.Errorf("flow: managed identity source %q unknown", m.src)
	}
	u.RawQuery = q.Encode()
	req.URL = u.String()
	return req, nil
}

// setSelector names a user-assigned identity in q: client_id, object_id,
// or resourceParam (IMDS and Arc spell it msi_res_id, App Service
// mi_res_id).
func (m *ManagedIdentity) setSelector(q url.Values, resourceParam string) {
	switch m.kind {
	case miClientID:
		q.Set("client_id", m.id)
	case miObjectID:
		q.Set("object_id", m.id)
	case miResourceID:
		q.Set(resourceParam, m.id)
	}
}

// setRevocation adds what App Service and Service Fabric take for token
// revocation: the hash of the token to replace and the capabilities.
func (m *ManagedIdentity) setRevocation(q url.Values, refreshHash string) {
	if refreshHash != "" {
		q.Set("token_sha256_to_refresh", refreshHash)
	}
	if m.caps != "" {
		q.Set("xms_cc", m.caps)
	}
}

// probe checks, once, that an instance metadata service chosen by
// default answers at all: a GET without the Metadata header, which IMDS
// answers at once with 400, bounded by imdsProbeTimeout and not retried.
// Any answer will do. No answer means this is not an Azure host: an error
// wrapping [ErrUnavailable].
func (m *ManagedIdentity) probe(ctx context.Context, resource string) error {
	q := url.Values{"api-version": {imdsAPIVersion}, "resource": {resource}}
	ctx, cancel := m.cfg.withTimeout(ctx, imdsProbeTimeout)
	defer cancel()
	_, err := m.miWire.Do(ctx, &oauth.Request{Method: http.MethodGet, URL: m.endpoint + "?" + q.Encode(), Bare: true, NoRetry: true})
	if err != nil {
		return fmt.Errorf("%w: no instance metadata service answered at %s: %w", ErrUnavailable, m.endpoint, err)
	}
	m.imdsSeen.Store(true)
	return nil
}

// pinnedClient derives from base a client that accepts only the TLS
// certificate whose SHA-1 thumbprint is thumbprint (hex, colons and
// spaces allowed), instead of verifying it against the system's roots,
// and follows no redirect: Service Fabric's token service presents a
// self-signed certificate it publishes by thumbprint. base's transport
// must be an *http.Transport (or nil): only then can the pin be
// installed without changing base for other requests.
func pinnedClient(base *http.Client, thumbprint string) (*http.Client, error) {
	pin, err := parseThumbprint(thumbprint)
	if err != nil {
		return nil, err
	}
	var t *http.Transport
	switch rt := base.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport)
	case *http.Transport:
		t = rt
	default:
		return nil, fmt.Errorf("the HTTP client's Transport must be an *http.Transport, to pin Service Fabric's certificate; it is %T", base.Transport)
	}
	if t.DialTLSContext != nil || t.DialTLS != nil { //nolint:staticcheck // DialTLS bypasses TLSClientConfig too
		return nil, errors.New("the HTTP client's Transport dials TLS itself (DialTLS, DialTLSContext): Service Fabric's certificate cannot be pinned")
	}
	if c := t.TLSClientConfig; c != nil && (c.VerifyPeerCertificate != nil || c.VerifyConnection != nil) {
		return nil, errors.New("the HTTP client's Transport verifies certificates itself (VerifyPeerCertificate, VerifyConnection): Service Fabric's certificate cannot be pinned")
	}
	pt := t.Clone()
	// A connection of base's pool, never pinned, must not serve these
	// requests: a fresh HTTP/2 state goes with the pinned configuration.
	pt.TLSNextProto = nil
	tc := pt.TLSClientConfig.Clone()
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc.InsecureSkipVerify = true // #nosec G402 -- VerifyConnection pins the certificate instead
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("flow: Service Fabric presented no certificate")
		}
		sum := sha1.Sum(cs.PeerCertificates[0].Raw) // #nosec G401 -- the platform's thumbprint is SHA-1
		if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
			return errors.New("flow: Service Fabric's certificate does not match IDENTITY_SERVER_THUMBPRINT")
		}
		return nil
	}
	pt.TLSClientConfig = tc
	c := *base
	c.Transport = pt
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("flow: Service Fabric's token service does not redirect; not followed")
	}
	return &c, nil
}

// parseThumbprint reads a SHA-1 thumbprint: 40 hex digits, with colons
// and white space ignored.
func parseThumbprint(s string) ([]byte, error) {
	n := strings.Map(func(r rune) rune {
		if r == ':' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(n)
	if err != nil || len(b) != sha1.Size {
		return nil, errors.New("the environment's " + envIdentityThumbprint + " is not a SHA-1 certificate thumbprint (40 hex digits)")
	}
	return b, nil
}
