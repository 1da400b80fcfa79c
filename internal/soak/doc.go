// Package soak holds the outage soak of the module: its tests drive
// [bearer.Transport] with a real [flow.Confidential] client credentials
// source against an [authtest] authority and protected resource while
// the authority misbehaves, and check that callers never notice.
//
// TestSoak sends requests (GET, and POST with a body) from 64 goroutines,
// over loopback, in real time. Access tokens live 2 s and are refreshed
// in the background after 1 s ([authtest.WithTokenRefreshIn]). Every 5 s
// the authority revokes the application's tokens: a continuous access
// evaluation event, so the resource answers 401 with an
// insufficient_claims challenge, which the transport answers with one
// new token and one resend. The token endpoint fails in bursts of two
// faults, one kind after the other, at most one burst every 3 s: 503
// with Retry-After: 1, a dropped connection, a 400 ms answer. Revocations
// and bursts start only between token requests (none under way, none
// waiting to retry, no background refresh unfinished), so that no token
// request meets more faults than its two retries absorb, and a
// revocation meets the cached token, never a token minted before it and
// cached after it.
//
// The test asserts that:
//
//   - every request succeeded with 200, and each POST body reached the
//     resource on a resend too: the faults are the authority's only, and
//     a token the authority would accept always exists after the first;
//   - no request reached the resource without a token;
//   - no request reached the resource more than twice (at most one
//     resend: no challenge loop), every resend answered a challenge the
//     resource sent, and the claims resends number at least one and at
//     most one a sender a revocation (64 each);
//   - each kind of fault met the client, and a background refresh ran;
//   - the live heap after a garbage collection at the end of the run is
//     within 10 % of the one at the end of its second quarter (the run
//     goes in four quarters, the senders paused at each boundary);
//   - no goroutine outlives the test (goleak, in TestMain), once the
//     background refreshes under way at the end have ended.
//
// It logs one block of figures: requests and their rate, token requests,
// background refreshes, revocations, faults injected and met by kind,
// challenges by kind at the resource (and how late an expired token
// came, if one did), resends, latency (p50, p99, max) and the heap at
// each quarter. Latency is reported for three kinds of request: those
// that overlapped an outage window (from a token request that may meet
// a fault until no token request is under way or waiting to retry);
// those that started while a background refresh was under way; and the
// others. Requests are classed by when they started, not by overlap, as
// long requests overlap more: classed by overlap, requests during a
// refresh looked twice as slow at p50 and 1.2 to 5.4 times at p99.
// Classed by start, their p99 was 0.84 to 1.84 times the quiet
// requests' p99 in runs of 200,000 and 1,000,000 requests without the
// race detector (1.04 and 1.23 in two runs of a million; 1.1 is the
// aim), and 1.2 to 2.0 under it. It is not asserted: those requests are
// 0.2 to 0.5 % of a run (a refresh takes milliseconds), so their p99
// rests on the slowest 3 to 20 of them, and one scheduling stall on a
// shared machine moves it.
// Requests during an outage do wait: a background refresh that meets two
// 503s with Retry-After: 1 needs 2 s, longer than the 0.8 s of serving
// life its token has left, so the senders wait for it (up to 2.8 s, the
// largest latency of that class) rather than fail.
//
// # Bounded and long runs
//
// By default the soak sends 200,000 requests, about a minute on two
// cores; under the race detector, which slows every request about
// fourfold, 30,000 (.ci/run's go test -race ./... runs that, and its Go
// 1.27 pass, without -race, the 200,000). SOAK_REQUESTS sets the number;
// the long run is a million requests, without the race detector:
//
//	SOAK_REQUESTS=1000000 go test -run TestSoak -v -count=1 -timeout 30m ./internal/soak
package soak
