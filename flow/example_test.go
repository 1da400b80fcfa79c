package flow_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bearerhttp/bearer/flow"
)

func ExampleError() {
	// An error as an on-behalf-of request returns it when the user has
	// not consented to the downstream API.
	err := fmt.Errorf("on-behalf-of: %w", &flow.Error{
		StatusCode: 400,
		Code:       "invalid_grant",
		Suberror:   "consent_required",
		ErrorCodes: []int{65001},
	})
	var e *flow.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code, e.Suberror, e.ErrorCodes)
	}
	if errors.Is(err, flow.ErrInteractionRequired) {
		fmt.Println("send the user to sign in")
	}
	// Output:
	// 400 invalid_grant consent_required [65001]
	// send the user to sign in
}

func ExampleDefaultBackoff() {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	throttled := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}}
	fmt.Println(flow.DefaultBackoff(1, throttled, now))

	unavailable := &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{
		"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)},
	}}
	fmt.Println(flow.DefaultBackoff(1, unavailable, now))
	// Output:
	// 7s
	// 1m30s
}

func ExampleRetryPolicy() {
	// A test that checks the waits asked for between attempts, without
	// waiting: Sleep records each wait and returns at once.
	var waits []time.Duration
	policy := flow.RetryPolicy{
		Sleep: func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d)
			return ctx.Err()
		},
	}
	_ = flow.WithRetryPolicy(policy) // give it to flow.NewConfidential
}
