package oauth

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

const (
	// backoffBase is the wait before the first retry when the authority
	// says nothing; it doubles for each further retry.
	backoffBase = time.Second
	// backoffMax caps the exponential wait.
	backoffMax = 30 * time.Second
)

// Retryable reports whether an attempt that got status is retried: 429,
// 500, 502, 503 and 504. Other statuses (every other 4xx in particular)
// are final.
func Retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// DefaultBackoff is the wait before retry number retry (1 for the first
// retry) after resp: the authority's Retry-After (delay-seconds or an HTTP
// date, read against now) on a 429 or 5xx response; otherwise, and after a
// connection error (resp nil), exponential backoff with jitter: a random
// wait in [b/2, b) where b is 1 s doubled for each retry after the first,
// at most 30 s.
func DefaultBackoff(retry int, resp *http.Response, now time.Time) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		if d, ok := RetryAfter(resp.Header, now); ok {
			return d
		}
	}
	b := backoffBase
	for i := 1; i < retry && b < backoffMax; i++ {
		b *= 2
	}
	b = min(b, backoffMax)
	return b/2 + rand.N(b/2)
}

// maxRetryAfter is the largest Retry-After read (a bigger one is capped:
// it passes any deadline anyway).
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads the Retry-After header: delay-seconds, or an HTTP date
// (any of the three formats of RFC 9110) from which now is subtracted. A
// date in the past means no wait. ok is false when the header is absent
// or unreadable.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange {
				return maxRetryAfter, true
			}
			return 0, false
		}
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, maxRetryAfter), true
}

// checkRetry is retryablehttp's CheckRetry: connection errors and the
// statuses of [Retryable] are retried while retries remain and the wait
// the backoff asks for ends before the context's deadline.
func (st *call) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	st.attempts++
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	if st.retries >= st.retryMax {
		return false, nil
	}
	if fe := (*finalError)(nil); errors.As(err, &fe) {
		return false, nil
	}
	if err != nil {
		// retryablehttp's own policy knows the errors not worth a retry
		// (bad certificates, unsupported schemes, redirect loops).
		if retry, _ := retryablehttp.DefaultRetryPolicy(ctx, nil, err); !retry {
			return false, nil
		}
		resp = nil
	} else if st.req.Retries == nil && !Retryable(resp.StatusCode) {
		return false, nil
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if st.req.Retries != nil && st.retries >= st.req.Retries(status) {
		return false, nil
	}
	wait := max(st.client.backoff(st.retries+1, resp), 0)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		st.stopped = wait
		st.client.log(ctx, "oauth: not retrying: the wait asked for passes the deadline",
			slog.String("url", st.where), slog.Int("status", status),
			slog.Duration("wait", wait), slog.Duration("time_left", time.Until(dl)))
		return false, nil
	}
	st.retries++
	st.wait = wait
	attrs := []slog.Attr{
		slog.String("url", st.where), slog.Int("status", status),
		slog.Int("retry", st.retries), slog.Duration("wait", wait),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", scrubErr(err, st.secrets)))
	}
	st.client.log(ctx, "oauth: attempt failed, will retry", attrs...)
	return true, nil
}

// backoffHook is retryablehttp's Backoff: it hands over the wait
// checkRetry granted, or carries it out through Client.Sleep and hands
// over nothing.
func (st *call) backoffHook(_, _ time.Duration, _ int, _ *http.Response) time.Duration {
	if st.client.Sleep == nil {
		return st.wait
	}
	_ = st.client.Sleep(st.ctx, st.wait) // a done context is seen by prepareRetry
	return 0
}
