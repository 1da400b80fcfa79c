package bearer

import "net/http"

// NonceReceiver is implemented by a [RequestAuthorizer] that keeps the
// DPoP nonces servers hand out (RFC 9449 section 9): [Transport] calls
// ReceiveNonce with the request it sent and the value of the response's
// DPoP-Nonce header, for every response that has one (a 401
// use_dpop_nonce challenge or any other), before anything else is done
// with the response. The source puts the latest nonce of a server in the
// proofs of its next requests there, which saves them the round trip of
// a use_dpop_nonce challenge. ReceiveNonce may be called concurrently and
// must not block.
type NonceReceiver interface {
	ReceiveNonce(req *http.Request, nonce string)
}

// receiveNonce hands resp's DPoP-Nonce, if any, to nr (nil when the
// source keeps no nonces).
func receiveNonce(nr NonceReceiver, req *http.Request, resp *http.Response) {
	if nr == nil || resp == nil {
		return
	}
	if v := resp.Header["Dpop-Nonce"]; len(v) > 0 && v[0] != "" {
		nr.ReceiveNonce(req, v[0])
	}
}
