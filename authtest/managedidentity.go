package authtest

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stand-ins of every managed identity source MSAL knows. Each answers at
// a path of its own on the server, in the shape of the real service:
//
//	/metadata/identity/oauth2/token                    IMDS (Azure VMs, AKS pod identity): GET, Metadata: true, api-version 2018-02-01
//	/msi/token                                         App Service and Functions: GET, X-IDENTITY-HEADER, api-version 2019-08-01
//	/arc/metadata/identity/oauth2/token                Azure Arc: GET, Metadata: true, api-version 2020-06-01, a 401 Basic
//	                                                   challenge naming a key file, then Authorization: Basic {key}
//	/cloudshell/oauth2/token                           Cloud Shell: POST of the form resource=..., Metadata: true
//	/servicefabric/metadata/identity/oauth2/token      Service Fabric: GET, Secret header, api-version 2019-07-01-preview
//	                                                   (over TLS: a TLS server, pinned by [Server.CertificateThumbprint])
//	/azureml/msi/token                                 Azure Machine Learning: GET, secret header, api-version 2017-09-01
//
// [Server.ManagedIdentityEnv] returns the environment variables that lead
// a client (MSAL's detection rules) to each of them.
//
// Every source issues app-only tokens for the system-assigned identity
// ([SystemAssignedClientID]) or, where the source lets the caller choose
// one, for a user-assigned identity registered with
// [Server.AddManagedIdentity] and named by client_id, object_id or
// msi_res_id / mi_res_id (Azure ML: clientid). Tokens carry every role of
// the resource's API and live [WithManagedIdentityLifetime] (24 hours by
// default).
//
// Like the real services, every source keeps the tokens it issued and
// answers the same token again until its refresh time (refresh_in when
// [WithManagedIdentityRefreshIn] sets one, else half its lifetime) has
// passed. App Service and Service Fabric issue a new one at once when the
// request's token_sha256_to_refresh is the SHA-256 (hex) of the token
// they hold, the way a client recovers from a claims challenge, and put
// the capabilities of xms_cc (comma-separated, such as cp1) in the token's
// xms_cc claim; the other sources ignore both parameters.

// ManagedIdentitySource names a managed identity source the server stands
// in for, as [Server.ManagedIdentityEnv] takes it.
type ManagedIdentitySource string

// The managed identity sources.
const (
	IMDS          ManagedIdentitySource = "IMDS"
	AppService    ManagedIdentitySource = "AppService"
	AzureArc      ManagedIdentitySource = "AzureArc"
	CloudShell    ManagedIdentitySource = "CloudShell"
	ServiceFabric ManagedIdentitySource = "ServiceFabric"
	AzureML       ManagedIdentitySource = "AzureML"
)

// Paths of the managed identity stand-ins other than IMDS's.
const (
	appServicePath    = "/msi/token"
	azureArcPath      = "/arc/metadata/identity/oauth2/token"
	cloudShellPath    = "/cloudshell/oauth2/token"
	serviceFabricPath = "/servicefabric/metadata/identity/oauth2/token"
	azureMLPath       = "/azureml/msi/token"
)

// API versions the stand-ins require, as the real services do.
const (
	imdsAPIVersion          = "2018-02-01"
	appServiceAPIVersion    = "2019-08-01"
	azureArcAPIVersion      = "2020-06-01"
	serviceFabricAPIVersion = "2019-07-01-preview"
	azureMLAPIVersion       = "2017-09-01"
)

// managedIdentityRoute returns the endpoint of a managed identity
// stand-in's path (split into segs), "" for none.
func managedIdentityRoute(segs []string, eq func([]string, ...string) bool) string {
	switch {
	case eq(segs, "msi", "token"):
		return EndpointAppService
	case eq(segs, "arc", "metadata", "identity", "oauth2", "token"):
		return EndpointAzureArc
	case eq(segs, "cloudshell", "oauth2", "token"):
		return EndpointCloudShell
	case eq(segs, "servicefabric", "metadata", "identity", "oauth2", "token"):
		return EndpointServiceFabric
	case eq(segs, "azureml", "msi", "token"):
		return EndpointAzureML
	}
	return ""
}

// maxArcKeys bounds the Azure Arc keys kept (one per challenge).
const maxArcKeys = 64

// ManagedIdentityEndpoint returns the URL of the stand-in of source
// (see the list above); "" for an unknown source.
func (s *Server) ManagedIdentityEndpoint(source ManagedIdentitySource) string {
	switch source {
	case IMDS:
		return s.URL + "/metadata/identity/oauth2/token"
	case AppService:
		return s.URL + appServicePath
	case AzureArc:
		return s.URL + azureArcPath
	case CloudShell:
		return s.URL + cloudShellPath
	case ServiceFabric:
		return s.URL + serviceFabricPath
	case AzureML:
		return s.URL + azureMLPath
	}
	return ""
}

// ManagedIdentityEnv returns the environment variables that lead a
// managed identity client, by MSAL's detection rules, to the stand-in of
// source:
//
//	IMDS           AZURE_POD_IDENTITY_AUTHORITY_HOST={URL}
//	AppService     IDENTITY_ENDPOINT={URL}/msi/token, IDENTITY_HEADER={secret}
//	AzureArc       IDENTITY_ENDPOINT={URL}/arc/metadata/identity/oauth2/token, IMDS_ENDPOINT={URL}
//	CloudShell     MSI_ENDPOINT={URL}/cloudshell/oauth2/token
//	ServiceFabric  IDENTITY_ENDPOINT={URL}/servicefabric/..., IDENTITY_HEADER={secret},
//	               IDENTITY_SERVER_THUMBPRINT={the TLS certificate's SHA-1}
//	AzureML        MSI_ENDPOINT={URL}/azureml/msi/token, MSI_SECRET={secret}
//
// The secret is [Server.IdentityHeader]. Service Fabric is served over
// TLS only: on a plain HTTP server its map has no thumbprint, and clients
// refuse its http endpoint. An unknown source gives nil.
func (s *Server) ManagedIdentityEnv(source ManagedIdentitySource) map[string]string {
	switch source {
	case IMDS:
		return map[string]string{"AZURE_POD_IDENTITY_AUTHORITY_HOST": s.URL}
	case AppService:
		return map[string]string{"IDENTITY_ENDPOINT": s.URL + appServicePath, "IDENTITY_HEADER": s.identityHeader}
	case AzureArc:
		return map[string]string{"IDENTITY_ENDPOINT": s.URL + azureArcPath, "IMDS_ENDPOINT": s.URL}
	case CloudShell:
		return map[string]string{"MSI_ENDPOINT": s.URL + cloudShellPath}
	case ServiceFabric:
		m := map[string]string{"IDENTITY_ENDPOINT": s.URL + serviceFabricPath, "IDENTITY_HEADER": s.identityHeader}
		if tp := s.CertificateThumbprint(); tp != "" {
			m["IDENTITY_SERVER_THUMBPRINT"] = tp
		}
		return m
	case AzureML:
		return map[string]string{"MSI_ENDPOINT": s.URL + azureMLPath, "MSI_SECRET": s.identityHeader}
	}
	return nil
}

// IdentityHeader returns the secret the App Service, Service Fabric and
// Azure ML stand-ins require (X-IDENTITY-HEADER, Secret and secret
// headers), random for each server, as the platforms set IDENTITY_HEADER
// and MSI_SECRET.
func (s *Server) IdentityHeader() string { return s.identityHeader }

// CertificateThumbprint returns the SHA-1 thumbprint (upper-case hex) of
// a TLS server's certificate, what Service Fabric publishes as
// IDENTITY_SERVER_THUMBPRINT; "" for a plain HTTP server.
func (s *Server) CertificateThumbprint() string {
	if s.tls == nil || len(s.tls.leaf.Certificate) == 0 {
		return ""
	}
	sum := sha1.Sum(s.tls.leaf.Certificate[0])
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// AzureArcKeyDirectory returns the directory where the Azure Arc stand-in
// writes the key files its challenges name: [WithAzureArcKeyDirectory],
// else a temporary directory of the server's own, made on first use and
// removed by [Server.Close]. It panics when that directory cannot be made.
func (s *Server) AzureArcKeyDirectory() string {
	dir, err := s.arcDir()
	if err != nil {
		panic(err)
	}
	return dir
}

// arcDir returns the Azure Arc key directory, making the server's own on
// first use.
func (s *Server) arcDir() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arcKeyDir == "" {
		dir, err := os.MkdirTemp("", "authtest-arc-")
		if err != nil {
			return "", fmt.Errorf("authtest: Azure Arc key directory: %w", err)
		}
		s.arcKeyDir, s.ownArcDir = dir, true
	}
	return s.arcKeyDir, nil
}

// miToken is a token a source issued and keeps.
type miToken struct {
	token     string
	caps      string
	issuedAt  time.Time
	expiresOn time.Time
	refreshAt time.Time
	hash      string // hex SHA-256 of token
}

// miRequest is what a token request asked of a managed identity source.
type miRequest struct {
	source   ManagedIdentitySource
	resource string
	// selector names a user-assigned identity: its parameter (client_id,
	// object_id, msi_res_id, mi_res_id, clientid) and value; empty for
	// the system-assigned identity.
	selParam, selValue string
	caps               string // xms_cc
	refreshHash        string // token_sha256_to_refresh
}

// miIdentity is the identity a request reached.
type miIdentity struct {
	clientID, objectID, resourceID string
}

// systemAssignedResourceID is the resource ID of the system-assigned
// identity (the "VM").
const systemAssignedResourceID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/authtest/providers/Microsoft.Compute/virtualMachines/authtest"

// findIdentityLocked returns the identity named by q's selector, the
// system-assigned one when there is none, and false when no registered
// identity has that name. s.mu must be held.
func (s *Server) findIdentityLocked(q miRequest) (miIdentity, bool) {
	if q.selParam == "" {
		return miIdentity{SystemAssignedClientID, derivedGUID("mi", SystemAssignedClientID), systemAssignedResourceID}, true
	}
	for _, m := range s.identities {
		var have string
		switch q.selParam {
		case "client_id", "clientid":
			have = m.ClientID
		case "object_id", "principal_id":
			have = m.ObjectID
		case "msi_res_id", "mi_res_id":
			have = m.ResourceID
		}
		if have != "" && strings.EqualFold(have, q.selValue) {
			return miIdentity{m.ClientID, m.ObjectID, m.ResourceID}, true
		}
	}
	return miIdentity{}, false
}

// selector returns the user-assigned selector of query among names, the
// first one given.
func selector(query url.Values, names ...string) (string, string) {
	for _, n := range names {
		if v := query.Get(n); v != "" {
			return n, v
		}
	}
	return "", ""
}

// errUnknownResource is the error of issueMI for a resource no API has.
var errUnknownResource = errors.New("resource not found")

// issueMI returns the token of identity id for q: the one the source
// keeps, or a new one.
func (s *Server) issueMI(id miIdentity, q miRequest) (*miToken, error) {
	now := s.Now()
	key := string(q.source) + "\x00" + strings.ToLower(id.clientID) + "\x00" + strings.ToLower(strings.TrimSuffix(q.resource, "/")) + "\x00" + q.caps
	s.mu.Lock()
	api := s.apiLocked(strings.TrimSuffix(q.resource, "/.default"))
	kept := s.miTokens[key]
	s.mu.Unlock()
	if api == nil {
		return nil, errUnknownResource
	}
	revocable := q.source == AppService || q.source == ServiceFabric
	if kept != nil && now.Before(kept.refreshAt) && !now.Before(kept.issuedAt) &&
		!(revocable && q.refreshHash != "" && strings.EqualFold(q.refreshHash, kept.hash)) {
		return kept, nil
	}
	var caps []string
	if revocable && q.caps != "" {
		for _, c := range strings.Split(q.caps, ",") {
			if c = strings.TrimSpace(c); c != "" {
				caps = append(caps, c)
			}
		}
	}
	lifetime := s.cfg.managedLifetime
	tok, err := s.mintAccessToken(tokenSpec{
		aud: api.Audience, issuer: s.Issuer(DefaultTenant), tid: DefaultTenant, clientID: id.clientID,
		azpacr: "2", appOID: id.objectID, roles: api.Roles, caps: caps, iat: now, lifetime: lifetime,
		extra: map[string]any{"xms_mirid": id.resourceID},
	})
	if err != nil {
		return nil, err
	}
	refreshIn := s.cfg.managedRefreshIn
	if refreshIn <= 0 || refreshIn > lifetime {
		refreshIn = lifetime / 2
	}
	sum := sha256.Sum256([]byte(tok))
	t := &miToken{token: tok, caps: q.caps, issuedAt: now, expiresOn: now.Add(lifetime), refreshAt: now.Add(refreshIn), hash: hex.EncodeToString(sum[:])}
	s.mu.Lock()
	if len(s.miTokens) >= 1024 {
		for k, v := range s.miTokens {
			if now.After(v.expiresOn) {
				delete(s.miTokens, k)
			}
		}
	}
	s.miTokens[key] = t
	s.mu.Unlock()
	return t, nil
}

// miFields returns the token response fields every shape shares, as
// strings: access_token, expires_in, expires_on, not_before, resource,
// token_type, and refresh_in when the server sends one.
func (s *Server) miFields(t *miToken, resource string) map[string]any {
	now := s.Now()
	m := map[string]any{
		"access_token": t.token,
		"expires_in":   strconv.FormatInt(int64(t.expiresOn.Sub(now).Seconds()), 10),
		"expires_on":   strconv.FormatInt(t.expiresOn.Unix(), 10),
		"not_before":   strconv.FormatInt(t.issuedAt.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
	}
	if s.cfg.managedRefreshIn > 0 {
		m["refresh_in"] = strconv.FormatInt(int64(t.refreshAt.Sub(now).Seconds()), 10)
	}
	return m
}

// requireGet answers 405 to anything but GET and reports whether r is a
// GET.
func (s *Server) requireGet(w http.ResponseWriter, r *http.Request, fail func(status int, problem, code, desc string)) bool {
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, "method not allowed", "invalid_request", "The request method is not allowed.")
		return false
	}
	return true
}

// appServiceError writes App Service's error shape.
func (s *Server) appServiceError(w http.ResponseWriter, r *http.Request, status int, problem, message string) {
	s.logProblem(r, status, "App Service: "+problem)
	writeJSON(w, status, map[string]any{"statusCode": status, "message": message, "correlationId": newGUID()})
}

// serveAppService answers App Service and Functions token requests:
// GET /msi/token?api-version=2019-08-01&resource=...[&client_id=|&object_id=|&mi_res_id=]
// with X-IDENTITY-HEADER. The answer's expires_on is a string of epoch
// seconds and it has no expires_in, as App Service sends it.
func (s *Server) serveAppService(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, problem, _, desc string) { s.appServiceError(w, r, status, problem, desc) }
	if !s.requireGet(w, r, fail) {
		return
	}
	if !s.secretHeaderOK(r.Header.Get("X-IDENTITY-HEADER")) {
		fail(http.StatusUnauthorized, "X-IDENTITY-HEADER missing or wrong", "", "The request is not authorized: the X-IDENTITY-HEADER header is missing or wrong.")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != appServiceAPIVersion {
		fail(http.StatusBadRequest, "api-version not "+appServiceAPIVersion, "", "The api-version is missing or not supported.")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "resource missing", "", "The resource parameter is required.")
		return
	}
	param, value := selector(q, "client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id")
	req := miRequest{source: AppService, resource: resource, selParam: param, selValue: value,
		caps: q.Get("xms_cc"), refreshHash: q.Get("token_sha256_to_refresh")}
	s.mu.Lock()
	id, ok := s.findIdentityLocked(req)
	s.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "identity not found", "", "No managed identity found for specified ClientId/ResourceId/PrincipalId.")
		return
	}
	t, err := s.issueMI(id, req)
	if err != nil {
		// App Service answers an unknown resource with a vague 500.
		fail(http.StatusInternalServerError, err.Error(), "", "An unexpected error occurred while fetching the AAD Token.")
		return
	}
	m := s.miFields(t, resource)
	delete(m, "expires_in")
	delete(m, "not_before")
	m["client_id"] = id.clientID
	writeJSON(w, http.StatusOK, m)
}

// serviceFabricError writes Service Fabric's error shape.
func (s *Server) serviceFabricError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	s.logProblem(r, status, "Service Fabric: "+code)
	writeJSON(w, status, map[string]any{"error": map[string]any{"correlationId": newGUID(), "code": code, "message": message}})
}

// serveServiceFabric answers Service Fabric token requests:
// GET ...?api-version=2019-07-01-preview&resource=... with the Secret
// header. The identity is the application's (the system-assigned one):
// Service Fabric takes no selector. expires_on is a JSON number.
func (s *Server) serveServiceFabric(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.serviceFabricError(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed", "The request method is not allowed.")
		return
	}
	if !s.isTLS() {
		s.serviceFabricError(w, r, http.StatusBadRequest, "HttpsRequired", "The managed identity token service of Service Fabric answers over https only.")
		return
	}
	secret := r.Header.Get("Secret")
	if secret == "" {
		s.serviceFabricError(w, r, http.StatusUnauthorized, "SecretHeaderNotFound", "Secret is not part of the header.")
		return
	}
	if !s.secretHeaderOK(secret) {
		s.serviceFabricError(w, r, http.StatusUnauthorized, "SecretMismatch", "The secret in the header does not match.")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != serviceFabricAPIVersion {
		s.serviceFabricError(w, r, http.StatusBadRequest, "InvalidApiVersion", "The api-version is missing or not supported.")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		s.serviceFabricError(w, r, http.StatusBadRequest, "ArgumentNullOrEmpty", "Value cannot be null or empty. Parameter name: resource")
		return
	}
	req := miRequest{source: ServiceFabric, resource: resource, caps: q.Get("xms_cc"), refreshHash: q.Get("token_sha256_to_refresh")}
	s.mu.Lock()
	id, _ := s.findIdentityLocked(req)
	s.mu.Unlock()
	t, err := s.issueMI(id, req)
	if err != nil {
		s.serviceFabricError(w, r, http.StatusNotFound, "ManagedIdentityNotFound", "The resource was not found: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":   "Bearer",
		"access_token": t.token,
		"expires_on":   t.expiresOn.Unix(),
		"resource":     resource,
	})
}

// serveCloudShell answers Cloud Shell token requests: POST of the form
// resource=... with Metadata: true. Every field is a string, as Cloud
// Shell sends them.
func (s *Server) serveCloudShell(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, problem, code, desc string) {
		s.logProblem(r, status, "Cloud Shell: "+problem)
		imdsError(w, status, code, desc)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "method not allowed", "invalid_request", "The request method is not allowed.")
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		fail(http.StatusBadRequest, "Metadata header missing", "invalid_request", "Required metadata header not specified")
		return
	}
	if err := formError(r); err != nil {
		fail(http.StatusBadRequest, "bad form", "invalid_request", "The request body is not a form.")
		return
	}
	resource := r.PostForm.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "resource missing", "invalid_request", "Required form field 'resource' is missing")
		return
	}
	req := miRequest{source: CloudShell, resource: resource}
	s.mu.Lock()
	id, _ := s.findIdentityLocked(req)
	s.mu.Unlock()
	t, err := s.issueMI(id, req)
	if err != nil {
		fail(http.StatusBadRequest, err.Error(), "invalid_resource", "AADSTS500011: The resource principal named "+resource+" was not found in the tenant named "+DefaultTenant+".")
		return
	}
	m := s.miFields(t, resource)
	m["refresh_token"] = ""
	writeJSON(w, http.StatusOK, m)
}

// serveAzureML answers Azure Machine Learning token requests:
// GET ...?api-version=2017-09-01&resource=...[&clientid=...] with the
// secret header. expires_on is a string of epoch seconds.
func (s *Server) serveAzureML(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, problem, _, desc string) { s.appServiceError(w, r, status, problem, desc) }
	if !s.requireGet(w, r, fail) {
		return
	}
	if !s.secretHeaderOK(r.Header.Get("secret")) {
		fail(http.StatusUnauthorized, "secret header missing or wrong", "", "The request is not authorized: the secret header is missing or wrong.")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != azureMLAPIVersion {
		fail(http.StatusBadRequest, "api-version not "+azureMLAPIVersion, "", "The api-version is missing or not supported.")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "resource missing", "", "The resource parameter is required.")
		return
	}
	param, value := selector(q, "clientid")
	req := miRequest{source: AzureML, resource: resource, selParam: param, selValue: value}
	s.mu.Lock()
	id, ok := s.findIdentityLocked(req)
	s.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "identity not found", "", "No managed identity found for specified clientid.")
		return
	}
	t, err := s.issueMI(id, req)
	if err != nil {
		fail(http.StatusBadRequest, err.Error(), "", "The resource "+resource+" was not found.")
		return
	}
	m := s.miFields(t, resource)
	delete(m, "expires_in")
	delete(m, "not_before")
	m["clientid"] = id.clientID
	writeJSON(w, http.StatusOK, m)
}

// serveAzureArc answers Azure Arc token requests:
// GET ...?api-version=2020-06-01&resource=...[&client_id=|&object_id=|&msi_res_id=]
// with Metadata: true. A request without Authorization gets
// 401 WWW-Authenticate: Basic realm={key file}, and the key file is
// written (0600) to the key directory; the request is answered when it
// comes back with Authorization: Basic {the file's content}. The answer
// is IMDS's, and echoes the user-assigned selector it used (client_id
// always; object_id and msi_res_id when asked for), as agents that
// support user-assigned identities do; with [WithLegacyAzureArcAgent] the
// selector is ignored and the system-assigned identity answers.
func (s *Server) serveAzureArc(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, problem, code, desc string) {
		s.logProblem(r, status, "Azure Arc: "+problem)
		imdsError(w, status, code, desc)
	}
	if !s.requireGet(w, r, fail) {
		return
	}
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		fail(http.StatusBadRequest, "Metadata header missing", "invalid_request", "Required metadata header not specified")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != azureArcAPIVersion {
		fail(http.StatusBadRequest, "api-version not "+azureArcAPIVersion, "invalid_request", "Invalid api-version")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "resource missing", "invalid_request", "Required query variable 'resource' is missing")
		return
	}
	authz := r.Header.Get("Authorization")
	if authz == "" {
		path, err := s.newArcKey()
		if err != nil {
			fail(http.StatusInternalServerError, "key file: "+err.Error(), "server_error", "The key file could not be written.")
			return
		}
		w.Header().Set("WWW-Authenticate", "Basic realm="+path)
		fail(http.StatusUnauthorized, "no Authorization: challenge sent", "unauthorized_client", "Authorization header is required.")
		return
	}
	scheme, key, _ := strings.Cut(authz, " ")
	if !strings.EqualFold(scheme, "Basic") || !s.arcKeyOK(strings.TrimSpace(key)) {
		fail(http.StatusUnauthorized, "wrong key", "unauthorized_client", "The key is not valid.")
		return
	}
	param, value := selector(q, "client_id", "object_id", "msi_res_id", "mi_res_id")
	if s.cfg.legacyArc {
		param, value = "", ""
	}
	req := miRequest{source: AzureArc, resource: resource, selParam: param, selValue: value}
	s.mu.Lock()
	id, ok := s.findIdentityLocked(req)
	s.mu.Unlock()
	if !ok {
		fail(http.StatusBadRequest, "identity not found", "invalid_request", "Identity not found")
		return
	}
	t, err := s.issueMI(id, req)
	if err != nil {
		fail(http.StatusBadRequest, err.Error(), "invalid_resource", "AADSTS500011: The resource principal named "+resource+" was not found in the tenant named "+DefaultTenant+".")
		return
	}
	m := s.miFields(t, resource)
	m["client_id"] = id.clientID
	m["ext_expires_in"] = m["expires_in"]
	switch param {
	case "object_id":
		m["object_id"] = id.objectID
	case "msi_res_id", "mi_res_id":
		m[param] = id.resourceID
	}
	writeJSON(w, http.StatusOK, m)
}

// newArcKey writes a new Azure Arc key file and returns its path.
func (s *Server) newArcKey() (string, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	key := base64.RawURLEncoding.EncodeToString(b[:])
	var n [8]byte
	_, _ = rand.Read(n[:])
	dir, err := s.arcDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, hex.EncodeToString(n[:])+".key")
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.arcKeys) >= maxArcKeys {
		_ = os.Remove(s.arcKeys[0].path) // the agent's files are short-lived too
		s.arcKeys = s.arcKeys[1:]
	}
	s.arcKeys = append(s.arcKeys, arcKey{key: key, path: path})
	return path, nil
}

// arcKey is a key file the Azure Arc stand-in wrote.
type arcKey struct{ key, path string }

// arcKeyOK reports whether key is the content of a key file the Azure Arc
// stand-in wrote.
func (s *Server) arcKeyOK(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.arcKeys {
		if key != "" && key == k.key {
			return true
		}
	}
	return false
}

// secretHeaderOK reports whether v is the server's identity header.
func (s *Server) secretHeaderOK(v string) bool {
	return v != "" && v == s.identityHeader
}

// newIdentityHeader returns a random identity header secret.
func newIdentityHeader() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%X", b[:])
}
