package authtest

import (
	"net/http"
	"strings"
	"time"
)

// Fault is a misbehaviour the server shows to requests instead of (or
// before) its normal answer. See [Server.InjectFaults].
//
// The parts apply in this order: Delay; then Drop; then a response made
// of Status, RetryAfter and either Body or an error built from Error,
// Suberror, Description, ErrorCodes and Claims. A fault with only a Delay
// delays the normal answer.
type Fault struct {
	// Endpoint is the endpoint the fault applies to (EndpointToken,
	// EndpointDiscovery, EndpointRegion, ...); "" means EndpointToken.
	Endpoint string
	// Delay holds the answer back this long (real time, not the server's
	// clock). It ends early, with no answer, when the client gives up
	// (the request's context ends).
	Delay time.Duration
	// Drop closes the connection without an answer.
	Drop bool
	// Status is the status code; 0 means 400 when Error is set and 200
	// when Body is set. A status with neither Error nor Body answers an
	// Entra-shaped error: temporarily_unavailable for 429 and 503,
	// server_error for other 5xx codes, invalid_request otherwise.
	Status int
	// RetryAfter, when not empty, is sent as the Retry-After header.
	RetryAfter string
	// Header holds more response headers, such as a WWW-Authenticate
	// challenge.
	Header http.Header
	// Body, when not empty, is sent as it is (for example malformed JSON),
	// with Content-Type application/json.
	Body string
	// Error, Suberror, Description, ErrorCodes and Claims make an
	// Entra-shaped error response: error, suberror, error_description
	// (after "AADSTSnnn: " when ErrorCodes is not empty), error_codes and
	// claims.
	Error       string
	Suberror    string
	Description string
	ErrorCodes  []int
	Claims      string
}

type faultEntry struct {
	n int
	f Fault
}

// InjectFaults makes the next n requests to f.Endpoint (by default the
// token endpoint) meet f. Faults injected earlier are used up first.
// Requests that meet a fault are recorded with [Request.Fault] set.
func (s *Server) InjectFaults(n int, f Fault) {
	if n <= 0 {
		return
	}
	if f.Endpoint == "" {
		f.Endpoint = EndpointToken
	}
	f.ErrorCodes = append([]int(nil), f.ErrorCodes...)
	f.Header = f.Header.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultEntry{n: n, f: f})
}

// ClearFaults drops every fault not used yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the next fault for endpoint, using it up.
func (s *Server) takeFault(endpoint string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.faults {
		if e.f.Endpoint != endpoint {
			continue
		}
		f := e.f
		e.n--
		if e.n <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &f
	}
	return nil
}

// applyFault plays f and reports whether it answered the request (or
// dropped it), so that the normal answer must not follow.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, rt routed, f *Fault) bool {
	if f.Delay > 0 {
		s.logger.Info("authtest: delaying the answer (injected fault)", "path", r.URL.Path, "delay", f.Delay)
		if !sleepCtx(r.Context(), f.Delay) {
			return true
		}
	}
	if f.Drop {
		s.logger.Info("authtest: dropping connection (injected fault)", "path", r.URL.Path)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
			return true
		}
		// Not hijackable (HTTP/2): abort the handler, which resets the
		// stream.
		panic(http.ErrAbortHandler)
	}
	if f.Status == 0 && f.Error == "" && f.Body == "" {
		return false // delay only
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Body != "" {
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		s.logProblem(r, status, "injected fault: raw body")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	e := &oauthError{status: f.Status, code: f.Error, desc: f.Description, suberror: f.Suberror, claims: f.Claims}
	if len(f.ErrorCodes) > 0 {
		e.aadsts = f.ErrorCodes[0]
	}
	if e.status == 0 {
		e.status = http.StatusBadRequest
	}
	if e.code == "" {
		switch {
		case e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable:
			e.code, e.aadsts, e.desc = "temporarily_unavailable", 90024, "A transient error has occurred. Please try again."
		case e.status >= 500:
			e.code, e.aadsts, e.desc = "server_error", 50000, "There was an error issuing a token or an issue with our sign-in service."
		default:
			e.code, e.aadsts, e.desc = "invalid_request", 90023, "The request is not valid."
		}
	}
	kind := kindEntra
	if rt.auth != nil {
		kind = rt.auth.kind
	}
	if len(f.ErrorCodes) > 1 {
		e.codes = f.ErrorCodes
	}
	if strings.HasPrefix(e.desc, "AADSTS") {
		e.noPrefix = true
	}
	s.writeOAuthError(w, r, kind, e)
	return true
}
