// Package oauth is the wire protocol of the calls package flow makes to an
// OAuth 2.0 / OpenID Connect authority: token requests shaped like MSAL's,
// discovery GETs, and the parsing of what the authority answers.
//
// Every call goes through [github.com/hashicorp/go-retryablehttp] with the
// settings of DESIGN.md "Calls to the authority": at most two retries, of
// connection errors and of 429, 500, 502, 503 and 504 only; the
// authority's Retry-After honoured; no retry whose wait would pass the
// context's deadline; a request body rebuilt for every attempt, so a client
// credential signs exactly one fresh assertion per attempt.
//
// Nothing this package logs or puts in an error holds a secret: form
// values are never logged, the body of a successful response is never
// echoed, and the text of an error response (and of a failed call) is
// scrubbed of every secret the request carried, in every spelling an
// authority might echo: as sent, form- or path-encoded, base64, JSON- or
// HTML-escaped; for HTTP Basic authentication, the password decoded from
// the header as well as the header itself.
//
// Calls follow no redirect to another origin or to plain http, and a
// request with a body (a grant, client credentials) follows none at all:
// such a redirect fails the call with an error wrapping [ErrRedirect].
package oauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/bearerhttp/bearer/internal/uuid"
)

const (
	// DefaultTimeout bounds a call whose context has no deadline.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes is the largest response body read.
	DefaultMaxResponseBytes = 1 << 20
	// MaxRetries is how many times a failed attempt is retried.
	MaxRetries = 2
	// MaxPolicyRetries caps the retries a Request's own Retries policy
	// may ask for.
	MaxPolicyRetries = 10
)

var (
	// ErrResponseTooLarge is wrapped by the error for a response whose
	// body is over the size limit.
	ErrResponseTooLarge = errors.New("oauth: response body exceeds the size limit")
	// ErrMalformedResponse is wrapped by the error for a successful
	// response that cannot be read (not JSON, a required field missing,
	// a field of the wrong type).
	ErrMalformedResponse = errors.New("oauth: malformed response")
	// ErrRedirect is wrapped by the error of a call the authority answered
	// with a redirect that is not followed: to another origin, to plain
	// http, or of a request that carries a body (a grant, client
	// credentials).
	ErrRedirect = errors.New("oauth: redirect refused")
)

// Client sends requests to an authority. The zero value is ready to use;
// its fields must not change once calls are under way.
type Client struct {
	// HTTPClient sends every attempt. Nil means http.DefaultClient, whose
	// transport honours HTTPS_PROXY and NO_PROXY.
	HTTPClient *http.Client
	// Timeout bounds a call (every attempt and wait) whose context has no
	// deadline. Zero means DefaultTimeout (30 s).
	Timeout time.Duration
	// MaxResponseBytes is the largest response body read; a larger one is
	// an error wrapping ErrResponseTooLarge. Zero means
	// DefaultMaxResponseBytes (1 MiB).
	MaxResponseBytes int64
	// Backoff returns the wait asked for before retry number retry (1 for
	// the first retry) after the attempt that got resp (nil when it failed
	// without a response), now being Now(). Nil means DefaultBackoff.
	Backoff func(retry int, resp *http.Response, now time.Time) time.Duration
	// Sleep carries out the wait Backoff asked for: it returns after d,
	// or early with ctx's error. Nil leaves the wait to retryablehttp's
	// timer. Tests set it to record the waits asked for without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock read for Retry-After dates and token lifetimes.
	// Nil means time.Now.
	Now func() time.Time
	// WithTimeout derives the context of a call that has no deadline.
	// Nil means context.WithTimeout. A test seam: it sees the timeout
	// asked for.
	WithTimeout func(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
	// Logger receives a debug record of every call, attempt and retry,
	// never a form value or a response body. Nil means no logging.
	Logger *slog.Logger
	// AppName and AppVersion, when set, are sent as the x-app-name and
	// x-app-ver headers.
	AppName, AppVersion string
}

// Request is one call to an authority.
type Request struct {
	// Method is the HTTP method; empty means POST when Form is not nil,
	// GET otherwise.
	Method string
	// URL is where the request goes.
	URL string
	// Form is the form-encoded body of a POST: the grant's fields, without
	// client authentication. It is not modified.
	Form url.Values
	// Header holds headers to add to the standard ones.
	Header http.Header
	// Authenticate adds client authentication to copies of Form and of the
	// request's header. It is called exactly once per attempt, so every
	// attempt carries fresh credentials (a newly signed assertion). Nil
	// means no client authentication (a public client).
	Authenticate func(ctx context.Context, form url.Values, header http.Header) error
	// NoRetry makes the call a single attempt, for an authorization code
	// redemption (a code is good once).
	NoRetry bool
	// Bare sends none of the client identification headers (x-client-*,
	// client-request-id, x-app-*), for calls that are not to an
	// authority, such as the instance metadata service.
	Bare bool
	// Secrets are more values the request carries (such as a managed
	// identity endpoint's secret header) that must never appear in an
	// error or a log record, in any spelling; the secret form fields and
	// the Authorization header are always treated so.
	Secrets []string
	// Retries, when not nil, replaces the default retry policy: it returns
	// how many retries a call makes at most when an attempt got status (0
	// after a connection error); 0 means the attempt is final. Nil means
	// MaxRetries retries of connection errors and of the statuses
	// [Retryable] lists. At most MaxPolicyRetries; NoRetry still wins.
	Retries func(status int) int
	// Where, when set, names the request in logs and errors instead of its
	// URL, which is then scrubbed from error texts: for a URL whose path
	// holds personal data, such as user realm discovery's username.
	Where string
}

// Response is an authority's answer, whatever its status.
type Response struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Header is the response's header.
	Header http.Header
	// Body is the response body, at most the client's size limit.
	Body []byte
	// ClientRequestID is the client-request-id the call sent (the same on
	// every attempt); empty for a Bare request.
	ClientRequestID string
	// Attempts is how many attempts were made.
	Attempts int
	// StoppedRetry, when not zero, is the wait a retry would have needed
	// when the call gave up because that wait would pass the context's
	// deadline.
	StoppedRetry time.Duration
	// SentAt is when the attempt that got this answer was sent, on the
	// client's clock. Lifetimes in the answer (expires_in, refresh_in)
	// count from no earlier than that: the authority stamped its tokens
	// after it, and the answer may have taken long to come back.
	SentAt time.Time

	secrets []string // values the request carried that must not be echoed
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) maxBytes() int64 {
	if c.MaxResponseBytes > 0 {
		return c.MaxResponseBytes
	}
	return DefaultMaxResponseBytes
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) backoff(retry int, resp *http.Response) time.Duration {
	if c.Backoff != nil {
		return c.Backoff(retry, resp, c.now())
	}
	return DefaultBackoff(retry, resp, c.now())
}

func (c *Client) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if c.Logger == nil || !c.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// Do sends req, retrying as the package documentation says, and returns
// the final response whatever its status. The error is for a call that
// got no usable response: a connection error after the last attempt, a
// cancelled or expired context, an Authenticate error, or a body over the
// size limit.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		withTimeout := c.WithTimeout
		if withTimeout == nil {
			withTimeout = context.WithTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = withTimeout(ctx, c.timeout())
		defer cancel()
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
		if req.Form != nil {
			method = http.MethodPost
		}
	}
	rreq, err := retryablehttp.NewRequestWithContext(ctx, method, req.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("oauth: bad request URL: %w", err)
	}
	st := &call{client: c, req: req, ctx: ctx, where: redactURL(rreq.URL)}
	st.setHeaders(rreq.Header)
	if req.Where != "" {
		// The URL's path holds personal data: errors name Where instead.
		st.where = req.Where
		st.extra = append(st.extra, rreq.URL.String(), req.URL, rreq.URL.EscapedPath(), rreq.URL.Path)
	}
	for _, v := range req.Secrets {
		st.extra = append(st.extra, secretSpellings(v)...)
	}
	st.hasBody = method == http.MethodPost || req.Form != nil
	if st.hasBody {
		if err := st.build(rreq.Request); err != nil {
			return nil, err
		}
	} else {
		st.secrets = longestFirst(append(secretsOf(nil, rreq.Header), st.extra...))
	}
	retryMax := MaxRetries
	if req.Retries != nil {
		retryMax = MaxPolicyRetries
	}
	if req.NoRetry {
		retryMax = 0
	}
	st.retryMax = retryMax
	rc := &retryablehttp.Client{
		HTTPClient:   st.redirectPolicy(c.httpClient()),
		Logger:       nil,
		RetryMax:     retryMax,
		CheckRetry:   st.checkRetry,
		Backoff:      st.backoffHook,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: st.prepareRetry,
		// Called right before each attempt is sent.
		RequestLogHook: func(retryablehttp.Logger, *http.Request, int) { st.sentAt = c.now() },
	}
	start := time.Now()
	c.log(ctx, "oauth: request",
		slog.String("method", method), slog.String("url", st.where),
		slog.String("grant_type", req.Form.Get("grant_type")),
		slog.String("client_request_id", st.requestID))
	resp, err := rc.Do(rreq)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		c.log(ctx, "oauth: request failed",
			slog.String("url", st.where), slog.Int("attempts", st.attempts),
			slog.Duration("elapsed", time.Since(start)), slog.String("error", st.describe(err)))
		return nil, st.wrapErr(err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp, c.maxBytes())
	if err != nil {
		return nil, fmt.Errorf("oauth: %s %s: %w", method, st.where, err)
	}
	c.log(ctx, "oauth: response",
		slog.String("url", st.where), slog.Int("status", resp.StatusCode),
		slog.Int("attempts", st.attempts), slog.Duration("elapsed", time.Since(start)),
		slog.String("x_ms_request_id", resp.Header.Get("x-ms-request-id")))
	return &Response{
		StatusCode:      resp.StatusCode,
		Header:          resp.Header,
		Body:            body,
		ClientRequestID: st.requestID,
		Attempts:        st.attempts,
		StoppedRetry:    st.stopped,
		SentAt:          st.sentAt,
		secrets:         st.secrets,
	}, nil
}

// Token sends a token request and parses the answer: a 2xx response into
// a [TokenResponse], anything else into a [*ResponseError].
func (c *Client) Token(ctx context.Context, req *Request) (*TokenResponse, error) {
	resp, err := c.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Error()
	}
	// Lifetimes count from when the request was sent, not from when the
	// answer came: the token expires at the authority's issue time plus
	// expires_in, and a slow answer must not make it look longer-lived.
	tr, err := ParseTokenResponse(resp.Body, resp.SentAt)
	if err != nil {
		var re *ResponseError
		if errors.As(err, &re) {
			re.StatusCode = resp.StatusCode
			re.ClientRequestID = resp.ClientRequestID
		}
		return nil, err
	}
	tr.StatusCode = resp.StatusCode
	return tr, nil
}

// Get sends a GET (or a Bare GET for non-authority endpoints) and returns
// the body of a 2xx response; any other status is a [*ResponseError].
func (c *Client) Get(ctx context.Context, rawURL string, header http.Header, bare bool) ([]byte, error) {
	resp, err := c.Do(ctx, &Request{Method: http.MethodGet, URL: rawURL, Header: header, Bare: bare})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Error()
	}
	return resp.Body, nil
}

// Error returns the [*ResponseError] r stands for (meaningful for a
// non-2xx response).
func (r *Response) Error() *ResponseError {
	e := ParseErrorResponse(r.StatusCode, r.Header, r.Body, r.secrets...)
	e.ClientRequestID = r.ClientRequestID
	e.StoppedRetry = r.StoppedRetry
	return e
}

// readLimited reads resp's body, failing when it is over max bytes.
func readLimited(resp *http.Response, max int64) ([]byte, error) {
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrResponseTooLarge, resp.ContentLength, max)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response body: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, max)
	}
	return b, nil
}

// call is the state of one Do: what every attempt shares.
type call struct {
	client    *Client
	req       *Request
	ctx       context.Context
	where     string // the URL without its query, for logs and errors
	requestID string
	retryMax  int
	hasBody   bool          // the request has a form body, rebuilt per attempt
	attempts  int           // attempts made (counted as they are checked)
	retries   int           // retries granted
	wait      time.Duration // the wait granted for the next retry
	stopped   time.Duration // a wait refused because of the deadline
	sentAt    time.Time     // when the last attempt was sent
	secrets   []string      // secret values of the last attempt's request
	extra     []string      // the spellings of Request.Secrets
}

// setHeaders sets the standard headers on h.
func (st *call) setHeaders(h http.Header) {
	for k, vs := range st.req.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	h.Set("Accept", "application/json")
	if st.req.Bare {
		return
	}
	st.requestID = uuid.New()
	h.Set("x-client-SKU", SKU)
	h.Set("x-client-Ver", Version())
	h.Set("x-client-OS", runtime.GOOS)
	h.Set("x-client-CPU", runtime.GOARCH)
	h.Set("client-request-id", st.requestID)
	h.Set("return-client-request-id", "true")
	if st.client.AppName != "" {
		h.Set("x-app-name", st.client.AppName)
	}
	if st.client.AppVersion != "" {
		h.Set("x-app-ver", st.client.AppVersion)
	}
}

// build gives r a freshly authenticated body: a copy of the form and of
// the header, Authenticate called once, Body, ContentLength and GetBody
// set by hand.
func (st *call) build(r *http.Request) error {
	form := make(url.Values, len(st.req.Form)+2)
	for k, vs := range st.req.Form {
		form[k] = append([]string(nil), vs...)
	}
	header := r.Header.Clone()
	if st.req.Authenticate != nil {
		if err := st.req.Authenticate(st.ctx, form, header); err != nil {
			return fmt.Errorf("oauth: client authentication: %w", err)
		}
	}
	header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	st.secrets = longestFirst(append(secretsOf(form, header), st.extra...))
	body := []byte(form.Encode())
	r.Header = header
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return nil
}

// prepareRetry rebuilds the body of a retry (retryablehttp's PrepareRetry).
func (st *call) prepareRetry(r *http.Request) error {
	if err := st.ctx.Err(); err != nil {
		return err
	}
	st.client.log(st.ctx, "oauth: retrying",
		slog.String("url", st.where), slog.Int("retry", st.retries),
		slog.String("client_request_id", st.requestID))
	if !st.hasBody {
		return nil
	}
	return st.build(r)
}

// wrapErr describes a call that got no response, without secrets; the
// result still matches the original error (and the context's, when it is
// done) with errors.Is and errors.As.
func (st *call) wrapErr(err error) error {
	errs := []error{err}
	if ctxErr := st.ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		errs = append(errs, ctxErr)
	}
	msg := fmt.Sprintf("oauth: %s after %d attempt(s): %s", st.where, max(st.attempts, 1), st.describe(err))
	if len(errs) > 1 {
		msg += " (" + errs[1].Error() + ")"
	}
	return &scrubbedError{msg: msg, errs: errs}
}

// maxRedirects is how many redirects a call follows at most, as net/http's
// default policy.
const maxRedirects = 10

// redirectPolicy returns a shallow copy of hc (the caller's client is
// never changed: it may serve other calls and other code) whose
// CheckRedirect applies [call.checkRedirect] first, then hc's own
// CheckRedirect, or net/http's limit of 10 redirects when it has none.
func (st *call) redirectPolicy(hc *http.Client) *http.Client {
	cp := *hc
	own := hc.CheckRedirect
	cp.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if err := st.checkRedirect(r, via); err != nil {
			return &finalError{err}
		}
		if own != nil {
			if err := own(r, via); err != nil && err != http.ErrUseLastResponse {
				return &finalError{err}
			} else if err != nil {
				return err
			}
			return nil
		}
		if len(via) >= maxRedirects {
			return &finalError{fmt.Errorf("oauth: stopped after %d redirects", maxRedirects)}
		}
		return nil
	}
	return &cp
}

// finalError marks an error no retry can mend: a redirect refused by this
// package's policy, by the caller's CheckRedirect, or for being one too
// many. The authority would answer the same way again.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// checkRedirect refuses a redirect unless the request has no body and
// the redirect stays on the origin (scheme, host and port) of the URL the
// call was given, over https. A secret, assertion, code or refresh token
// is thus sent to the endpoint that was resolved, nowhere else: a token
// request is never redirected (a 307 or 308 would resend its body, a 302
// or 303 would turn it into a GET that cannot succeed), and a GET
// (discovery, keys, instance discovery, the instance metadata service)
// never leaves its origin or goes to plain http, where an attacker on the
// network could answer it.
func (st *call) checkRedirect(r *http.Request, via []*http.Request) error {
	from := via[0].URL
	reason := ""
	switch {
	case st.hasBody:
		reason = "a request carrying a grant or client credentials is never redirected"
	case r.URL.Scheme != "https":
		reason = "it leads to plain http"
	case !sameOrigin(from, r.URL):
		reason = "it leads to another origin"
	default:
		return nil
	}
	status := 0
	if r.Response != nil {
		status = r.Response.StatusCode
	}
	// Only the origin of the Location is shown: its path and query are the
	// authority's to write, and may echo what the request carried.
	to := r.URL.Scheme + "://" + r.URL.Host
	err := fmt.Errorf("%w: %s %s answered %d with a redirect to %s, not followed: %s",
		ErrRedirect, via[0].Method, redactURL(via[len(via)-1].URL), status, to, reason)
	st.client.log(st.ctx, "oauth: redirect refused",
		slog.String("url", st.where), slog.Int("status", status),
		slog.String("location_origin", to), slog.String("reason", reason))
	return err
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (RFC 6454), the default port spelled or not.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// describe returns the text of err, the error of a call that got no
// usable response, without secrets. For a redirect this package refused,
// it is that refusal alone: net/http's *url.Error would add the raw
// Location, which the authority writes and may fill with what the request
// carried.
func (st *call) describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, ErrRedirect) {
		err = ue.Err
	}
	return scrubErr(err, st.secrets)
}

// secretFields are the form fields that carry secrets.
var secretFields = []string{
	"client_secret", "client_assertion", "assertion", "code", "code_verifier",
	"refresh_token", "password", "device_code", "user_federated_identity_credential",
}

// secretsOf lists, longest first, every spelling (see [secretSpellings])
// of the secret values form and header carry: the secret form fields, and
// the Authorization header, whole and its credentials; for HTTP Basic
// authentication also the password, decoded from base64 and from the form
// encoding RFC 6749 section 2.3.1 applies before base64, since an
// authority may echo the secret it found there.
func secretsOf(form url.Values, header http.Header) []string {
	var out []string
	add := func(v string) {
		out = append(out, secretSpellings(v)...)
		// What went on the wire, in a form body or a Basic password, is
		// the form-encoded value: its own spellings too.
		if q := url.QueryEscape(v); q != v {
			out = append(out, secretSpellings(q)...)
		}
	}
	for _, f := range secretFields {
		for _, v := range form[f] {
			add(v)
		}
	}
	for _, a := range header.Values("Authorization") {
		add(a)
		scheme, cred, ok := strings.Cut(a, " ")
		if !ok {
			continue
		}
		cred = strings.TrimSpace(cred)
		add(cred)
		if !strings.EqualFold(scheme, "Basic") {
			continue
		}
		userpass, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			continue
		}
		_, pass, ok := strings.Cut(string(userpass), ":")
		if !ok {
			continue
		}
		add(pass)
		if raw, err := url.QueryUnescape(pass); err == nil {
			add(raw)
		}
	}
	return longestFirst(out)
}

// redactURL returns u without its query and fragment.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment, c.User = "", "", "", nil
	return c.String()
}
