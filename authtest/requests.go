package authtest

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Request is the record of one request the server received.
//
// Form and Header hold what the client sent, secrets included (client
// secrets, assertions, passwords, codes, refresh tokens, Authorization
// headers): that is what a test inspects. The server never logs them, and
// Request's String and Format methods redact them, so printing a Request
// with %v or %+v shows no secret.
type Request struct {
	// Time is when the request arrived, on the server's clock.
	Time time.Time
	// Method, Host and Path are the request's method, Host header and
	// URL path.
	Method, Host, Path string
	// Endpoint names the endpoint the path reached (EndpointToken, ...).
	Endpoint string
	// Tenant is the tenant as the path named it (Entra and B2C shapes),
	// such as "common" or "contoso.com".
	Tenant string
	// GrantType is the token request's grant_type.
	GrantType string
	// Query is the URL's query.
	Query url.Values
	// Form is the body's form (POST requests with a form body).
	Form url.Values
	// Header is the request's header.
	Header http.Header
	// Status is the status code answered; 0 while the request is running
	// or when the connection was dropped.
	Status int
	// Fault reports whether an injected [Fault] hit this request.
	Fault bool
}

// secretFields are the form fields a Request's String redacts.
var secretFields = []string{
	"client_secret", "client_assertion", "assertion", "password", "code",
	"refresh_token", "device_code", "code_verifier", "id_token_hint",
}

// String describes r without secrets.
func (r Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s (%s", r.Method, r.Host, r.Path, r.Endpoint)
	if r.GrantType != "" {
		fmt.Fprintf(&b, ", grant_type=%s", r.GrantType)
	}
	if r.Status != 0 {
		fmt.Fprintf(&b, ", status %d", r.Status)
	}
	b.WriteString(")")
	if len(r.Form) > 0 {
		b.WriteString(" form: " + redactValues(r.Form))
	}
	if len(r.Query) > 0 {
		b.WriteString(" query: " + redactValues(r.Query))
	}
	return b.String()
}

// Format prints r as String does for every verb, so %v, %+v and %#v
// never show a secret.
func (r Request) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

func redactValues(v url.Values) string {
	c := url.Values{}
	for k, vs := range v {
		if containsFold(secretFields, k) {
			c[k] = []string{"REDACTED"}
			continue
		}
		c[k] = vs
	}
	s, _ := url.QueryUnescape(c.Encode())
	return s
}

type ctxKey int

const formErrKey ctxKey = 0

// maxFormSize bounds the form bodies the server reads.
const maxFormSize = 1 << 20

// record parses r's form (when it has one) and appends a record of r.
func (s *Server) record(w http.ResponseWriter, r *http.Request, rt routed) (*Request, *http.Request) {
	rec := &Request{
		Time:     s.Now(),
		Method:   r.Method,
		Host:     r.Host,
		Path:     r.URL.Path,
		Endpoint: rt.endpoint,
		Query:    r.URL.Query(),
		Header:   r.Header.Clone(),
	}
	if rt.auth != nil {
		rec.Tenant = rt.auth.tenant
	}
	// The resource reads its own body (it echoes it).
	if r.Method == http.MethodPost && rt.endpoint != EndpointResource {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/x-www-form-urlencoded" {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormSize)
			if err := r.ParseForm(); err != nil {
				r = r.WithContext(context.WithValue(r.Context(), formErrKey, err))
			}
			rec.Form = cloneValues(r.PostForm)
			rec.GrantType = r.PostForm.Get("grant_type")
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	if l := s.cfg.requestLimit; l > 0 && len(s.requests) > 2*l {
		s.requests = append([]*Request(nil), s.requests[len(s.requests)-l:]...)
	}
	s.mu.Unlock()
	return rec, r
}

func formError(r *http.Request) error {
	err, _ := r.Context().Value(formErrKey).(error)
	return err
}

func (s *Server) finish(rec *Request, status int) {
	s.mu.Lock()
	rec.Status = status
	s.mu.Unlock()
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func (r *Request) clone() Request {
	c := *r
	c.Query = cloneValues(r.Query)
	c.Form = cloneValues(r.Form)
	c.Header = r.Header.Clone()
	return c
}

// Requests returns a copy of the record of every request received so far
// (the last ones only with [WithRequestLimit]), oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := s.retainedLocked()
	out := make([]Request, len(reqs))
	for i, r := range reqs {
		out[i] = r.clone()
	}
	return out
}

// retainedLocked returns the records [WithRequestLimit] keeps. s.mu must
// be held.
func (s *Server) retainedLocked() []*Request {
	if l := s.cfg.requestLimit; l > 0 && len(s.requests) > l {
		return s.requests[len(s.requests)-l:]
	}
	return s.requests
}

// RequestsTo returns the records of the requests that reached endpoint
// (EndpointToken, ...), oldest first.
func (s *Server) RequestsTo(endpoint string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.retainedLocked() {
		if r.Endpoint == endpoint {
			out = append(out, r.clone())
		}
	}
	return out
}

// TokenRequests returns how many requests reached a token endpoint.
func (s *Server) TokenRequests() int { return s.CountRequests(EndpointToken) }

// CountRequests returns how many requests reached endpoint.
func (s *Server) CountRequests(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.retainedLocked() {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// ResetRequests forgets the requests recorded so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}
