package authtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// oauthError is an error response of the authority, shaped as Entra sends
// it: error, error_description (starting with "AADSTSnnn: " and ending with
// the trace and correlation IDs and the timestamp), error_codes,
// timestamp, trace_id, correlation_id, error_uri, and suberror and claims
// where Entra has them. Plain OIDC authorities answer RFC 6749's error and
// error_description only.
type oauthError struct {
	status   int
	code     string
	aadsts   int
	desc     string
	suberror string
	claims   string
	codes    []int // error_codes when more than aadsts
	noPrefix bool  // desc already starts with its AADSTS code
}

func (e *oauthError) Error() string {
	if e.aadsts != 0 {
		return fmt.Sprintf("%s: AADSTS%d: %s", e.code, e.aadsts, e.desc)
	}
	return e.code + ": " + e.desc
}

// oerr makes an error response. invalid_client answers 401, everything
// else 400 unless status says otherwise.
func oerr(code string, aadsts int, format string, args ...any) *oauthError {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	return &oauthError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func (e *oauthError) withSuberror(s string) *oauthError { e.suberror = s; return e }

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// entraTimestamp is the layout of Entra's error timestamps.
const entraTimestamp = "2006-01-02 15:04:05Z"

// writeOAuthError writes e as kind's authority would. Errors are reported
// to the server's log: code and description only, which never hold a
// secret.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, kind authorityKind, e *oauthError) {
	s.logProblem(r, e.status, e.Error())
	body := map[string]any{"error": e.code, "error_description": e.desc}
	if kind != kindOIDC && e.aadsts != 0 {
		traceID := newGUID()
		corrID := r.Header.Get("client-request-id")
		if corrID == "" {
			corrID = newGUID()
		}
		ts := s.Now().UTC().Format(entraTimestamp)
		desc := fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.desc)
		if e.noPrefix {
			desc = e.desc
		}
		body["error_description"] = fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", desc, traceID, corrID, ts)
		body["error_codes"] = []int{e.aadsts}
		if len(e.codes) > 0 {
			body["error_codes"] = e.codes
		}
		body["timestamp"] = ts
		body["trace_id"] = traceID
		body["correlation_id"] = corrID
		body["error_uri"] = s.errorURI(r, e.aadsts)
		w.Header().Set("x-ms-request-id", traceID)
	}
	if kind != kindOIDC {
		if e.suberror != "" {
			body["suberror"] = e.suberror
		}
		if e.claims != "" {
			body["claims"] = e.claims
		}
	}
	writeJSON(w, e.status, body)
}

func (s *Server) errorURI(r *http.Request, code int) string {
	return s.issuerHost(r) + "/error?code=" + strconv.Itoa(code)
}

// writeJSON writes v as a JSON response that must not be cached, as token
// endpoint responses are (RFC 6749 section 5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "authtest: encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Errors the token endpoint sends in more than one place.
func errMissingParam(name string) *oauthError {
	return oerr("invalid_request", 900144, "The request body must contain the following parameter: '%s'.", name)
}
