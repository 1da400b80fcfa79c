package authtest

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// A stand-in of the Azure instance metadata service (IMDS): the region
// (/metadata/instance/compute/location?format=text&api-version=2021-01-01)
// and managed identity tokens (/metadata/identity/oauth2/token). Both
// require the Metadata: true header, as IMDS does.

// SetRegion sets the region the instance metadata stand-in reports; ""
// makes it answer 404, as when no region can be found.
func (s *Server) SetRegion(region string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.region = region
}

func imdsError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// imdsFail reports problem to the server's log and answers with IMDS's
// error shape.
func (s *Server) imdsFail(w http.ResponseWriter, r *http.Request, status int, problem, code, desc string) {
	s.logProblem(r, status, "IMDS: "+problem)
	imdsError(w, status, code, desc)
}

// imdsQuery checks what IMDS requires of every request, the Metadata: true
// header and an api-version, and returns the query; it answers the
// request itself and returns false when one is missing. noVersion is the
// error description for a missing api-version, which the two endpoints
// word differently.
func (s *Server) imdsQuery(w http.ResponseWriter, r *http.Request, noVersion string) (url.Values, bool) {
	if !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		s.imdsFail(w, r, http.StatusBadRequest, "Metadata header missing", "invalid_request", "Required metadata header not specified")
		return nil, false
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		s.imdsFail(w, r, http.StatusBadRequest, "api-version missing", "invalid_request", noVersion)
		return nil, false
	}
	return q, true
}

// serveRegion answers GET /metadata/instance/compute/location with the
// region as text.
func (s *Server) serveRegion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.imdsFail(w, r, http.StatusMethodNotAllowed, "method not allowed", "invalid_request", "The request method is not allowed.")
		return
	}
	q, ok := s.imdsQuery(w, r, "Bad request. api-version was not specified in the request")
	if !ok {
		return
	}
	s.mu.Lock()
	region := s.region
	s.mu.Unlock()
	if region == "" {
		s.logProblem(r, http.StatusNotFound, "IMDS: no region set")
		http.NotFound(w, r)
		return
	}
	if f := q.Get("format"); f != "" && f != "text" {
		writeJSON(w, http.StatusOK, region)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(region))
}

// serveManagedIdentity answers IMDS token requests
// (GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...)
// for the system-assigned identity, or the user-assigned one named by
// client_id, object_id or msi_res_id (mi_res_id). Tokens are app-only,
// carry every role of the resource's API, and live 24 hours (see
// [WithManagedIdentityLifetime]); the response fields are strings, as
// IMDS sends them. IMDS keeps a token and answers it again until half its
// lifetime has passed (see managedidentity.go).
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q, ok := s.imdsQuery(w, r, "Required query variable 'api-version' is missing")
	if !ok {
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		s.imdsFail(w, r, http.StatusBadRequest, "resource missing", "invalid_request", "Required query variable 'resource' is missing")
		return
	}
	param, value := selector(q, "client_id", "object_id", "msi_res_id", "mi_res_id")
	req := miRequest{source: IMDS, resource: resource, selParam: param, selValue: value}
	s.mu.Lock()
	id, found := s.findIdentityLocked(req)
	s.mu.Unlock()
	if !found {
		s.imdsFail(w, r, http.StatusBadRequest, "identity not found", "invalid_request", "Identity not found")
		return
	}
	t, err := s.issueMI(id, req)
	if errors.Is(err, errUnknownResource) {
		s.imdsFail(w, r, http.StatusBadRequest, "unknown resource", "invalid_resource", "AADSTS500011: The resource principal named "+resource+" was not found in the tenant named "+DefaultTenant+".")
		return
	}
	if err != nil {
		imdsError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	m := s.miFields(t, resource)
	m["client_id"] = id.clientID
	m["ext_expires_in"] = m["expires_in"]
	writeJSON(w, http.StatusOK, m)
}

// SystemAssignedClientID is the client ID of the system-assigned managed
// identity the instance metadata stand-in serves.
const SystemAssignedClientID = "5ab2c9d3-0000-4000-8000-00000000a11d"
