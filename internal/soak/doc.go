// Package soak holds the outage soak of the module: its tests drive
// [bearer.Transport] with a real [flow.Confidential] client credentials
// source against an [authtest] authority and protected resource while
// the authority misbehaves, and check that callers never notice.
//
// TestSoak sends requests from 64 goroutines, over loopback, in real
// time. Access tokens live 2 s and are refreshed in the background after
// 1 s ([authtest.WithTokenRefreshIn]); every 5 s the authority revokes the
// application's tokens (a continuous access evaluation event: the
// resource answers 401 with an insufficient_claims challenge, which the
// transport answers with one new token and one resend); and the token
// endpoint fails in bursts of two: 503 with Retry-After, a dropped
// connection, a slow answer. A burst is injected only while no token
// request is under way or waiting for a retry, so that no token request
// meets more faults than its two retries absorb. The test asserts that:
//
//   - every request succeeded with 200 (a cached token always exists
//     after the first one, and the faults are the authority's only), and
//     POST bodies reached the resource again on a resend;
//   - no request reached the resource without a token;
//   - no request was sent to the resource more than twice (one resend:
//     no challenge loop), and every resend answered a challenge;
//   - the heap after a garbage collection at the end of the run is within
//     10 % of the heap at the end of its second quarter (the run is
//     measured in four quarters, with the senders paused at each
//     boundary);
//   - no goroutine outlives the test (goleak, in TestMain).
//
// It logs one block of figures: requests, token requests, revocations,
// faults injected and met by kind, resends, p50/p99 latency of requests
// that overlapped a background refresh and of the others, and the heap
// at each quarter.
//
// # Bounded and long runs
//
// By default (as .ci/run runs it) the soak sends 200,000 requests; under
// the race detector, which slows every request about tenfold, 20,000.
// SOAK_REQUESTS sets the number; the long run is a million requests,
// without the race detector:
//
//	SOAK_REQUESTS=1000000 go test -run TestSoak -v -count=1 -timeout 30m ./internal/soak
package soak
