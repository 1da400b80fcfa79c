package bearer

import (
	"io"
	"net/http"

	"github.com/bearerhttp/bearer/challenge"
)

// maxDrain is how much of a 401's body is read before closing it, so that
// its connection can be reused.
const maxDrain = 64 << 10

// maxResends is how many times one request is sent again, in all.
const maxResends = 2

// cause is what a 401 asks for, in the order the transport acts upon them.
type cause int

const (
	causeNone cause = iota
	causeNonce
	causeClaims
	causeStepUp
	causeInvalidToken
	numCauses
)

// recover handles a 401 to a request the transport authorized: it
// satisfies the challenge and resends, at most once per cause and
// maxResends times in all. req is the caller's request; resp the 401.
func (t *Transport) recover(req *http.Request, resp *http.Response, ra RequestAuthorizer, scopes []string, tok Token, scheme string) (*http.Response, error) {
	ctx := req.Context()
	h := t.tracesOf(ctx)
	var done [numCauses]bool
	nonce := ""
	for resends := 0; resends < maxResends && resp.StatusCode == http.StatusUnauthorized; resends++ {
		ch, c := pick(resp, scheme, ra != nil)
		if c == causeNone {
			return resp, nil
		}
		if h.on() {
			h.challenge(ctx, ChallengeInfo{Kind: c.kind(), Challenge: ch, Resends: resends})
		}
		if done[c] {
			return resp, nil
		}
		done[c] = true

		var treq *TokenRequest
		switch c {
		case causeNonce:
			n := resp.Header.Get("Dpop-Nonce")
			if n == "" {
				return resp, nil
			}
			nonce = n
		case causeClaims:
			claims, err := ch.Claims()
			if err != nil || claims == "" {
				return resp, nil // nothing that can be asked for
			}
			treq = &TokenRequest{Scopes: scopes, Claims: claims, Challenge: &ch}
		case causeStepUp:
			treq = &TokenRequest{Scopes: scopes, Challenge: &ch}
		case causeInvalidToken:
			// Challenge tells the source that this forced refresh answers
			// the transport's invalid_token recovery, which a caching
			// source may limit (see ReuseTokenSource), unlike a caller's
			// own ForceRefresh.
			treq = &TokenRequest{Scopes: scopes, ForceRefresh: true, Challenge: &ch}
		}

		body, ok := replayBody(req)
		if !ok {
			return resp, nil
		}
		if treq != nil {
			nt, err := h.token(ctx, t.Source, *treq, c.kind())
			if err != nil {
				closeReader(body)
				drain(resp)
				return nil, h.failed(ctx, &ChallengeError{StatusCode: resp.StatusCode, Header: resp.Header, Challenge: ch, Err: err})
			}
			if c == causeInvalidToken && nt.AccessToken == tok.AccessToken {
				// The source answered with the token just refused (it
				// limits forced refreshes): a resend cannot succeed, so
				// the 401 goes back to the caller untouched.
				closeReader(body)
				return resp, nil
			}
			tok = nt
		}
		drain(resp)
		r := req.Clone(ctx)
		r.Body = body
		if err := authorize(r, ra, tok, nonce, nil); err != nil {
			closeReader(body)
			if treq != nil {
				return nil, h.failed(ctx, &ChallengeError{StatusCode: resp.StatusCode, Header: resp.Header, Challenge: ch, Err: err})
			}
			return nil, err
		}
		if h.on() {
			h.resend(ctx, ResendInfo{Kind: c.kind(), Resend: resends + 1})
		}
		var err error
		resp, err = t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if nr, ok := ra.(NonceReceiver); ok {
			receiveNonce(nr, r, resp)
		}
	}
	return resp, nil
}

// pick returns the challenge of resp the transport should act upon, and
// its cause. Only challenges of scheme (the one the token was sent with)
// and Bearer count; DPoP nonces count only for a RequestAuthorizer.
func pick(resp *http.Response, scheme string, authorizer bool) (challenge.Challenge, cause) {
	var best challenge.Challenge
	bestCause := causeNone
	for _, ch := range challenge.FromResponse(resp) {
		if !asciiEqualFold(ch.Scheme, "Bearer") && (scheme == "" || !asciiEqualFold(ch.Scheme, scheme)) {
			continue
		}
		c := causeNone
		switch {
		case ch.IsDPoPNonce():
			if authorizer {
				c = causeNonce
			}
		case ch.IsCAE():
			c = causeClaims
		case ch.IsStepUp():
			c = causeStepUp
		case ch.IsInvalidToken():
			c = causeInvalidToken
		}
		if c != causeNone && (bestCause == causeNone || c < bestCause) {
			best, bestCause = ch, c
		}
	}
	return best, bestCause
}

// replayBody returns a fresh body for resending req, and false when req
// has a body that cannot be replayed.
func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil || b == nil {
		return nil, false
	}
	return b, true
}

// drain reads up to maxDrain bytes of resp's body and closes it, so that
// the connection goes back to the pool when the body was short enough.
func drain(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}

func closeReader(r io.ReadCloser) {
	if r != nil && r != http.NoBody {
		r.Close()
	}
}
