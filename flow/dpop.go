package flow

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/internal/dpop"
	"github.com/bearerhttp/bearer/internal/oauth"
)

// DPoP (RFC 9449): tokens bound to a key the application holds. See
// [WithDPoP].

// ErrDPoPNotSupported is wrapped by the error of a token request of an
// application made with [WithDPoP] when the authority does not support
// DPoP: its discovery document lists no dpop_signing_alg_values_supported,
// or none that the key can sign, or it answered with a token that is not
// bound to the key (a token_type other than DPoP; the token is
// discarded, RFC 9449 section 5). Use [Confidential.SupportsDPoP] to ask
// first.
var ErrDPoPNotSupported = errors.New("flow: the authority does not support DPoP")

// tokenTypeDPoP is the token_type of DPoP-bound tokens.
const tokenTypeDPoP = "DPoP"

// WithDPoP makes the application ask for DPoP-bound tokens (RFC 9449,
// OAuth 2.0 Demonstrating Proof of Possession): tokens bound to key, so
// that a stolen token is useless without it.
//
// key may be any [crypto.Signer]: an in-memory key, or a key kept in a
// KMS or an HSM (only its Public and Sign methods are called). ECDSA keys
// on P-256, P-384 and P-521 sign ES256, ES384 and ES512; RSA keys of 2048
// bits or more sign PS256, or RS256 when the authority lists only that;
// Ed25519 keys sign EdDSA. The algorithm is the one the authority's
// discovery document lists in dpop_signing_alg_values_supported; an
// authority that lists none (Entra among them) fails every token request
// with an error wrapping [ErrDPoPNotSupported] (see
// [Confidential.SupportsDPoP]). A key of another kind makes the
// constructor fail with an error wrapping [ErrInvalidOption].
//
// Every token request then carries a DPoP proof; an authority's
// 400 use_dpop_nonce is answered by one retry with the nonce it sent, and
// the authority's latest nonce goes into later requests to it. Tokens
// have TokenType "DPoP" and are cached apart from bearer tokens, under the
// key's RFC 7638 thumbprint (MSAL's key_id), so tokens bound to another
// key are never served.
//
// Every token request of every flow carries a proof: client credentials,
// on-behalf-of, and the user flows (authorization code, refresh token,
// username and password, AcquireTokenSilent's refresh), for
// [Confidential] and [Public] alike. The authority binds a public
// client's refresh tokens to the key too (RFC 9449 section 5): only a
// proof of the same key redeems them, so a public client whose cache
// outlives the process needs the same key in the next one (with another
// key, AcquireTokenSilent finds no access token and the authority refuses
// the refresh token: the user signs in again).
//
// The application's sources ([Confidential.ClientSource],
// [Confidential.OnBehalfOfSource], and [Confidential.AccountSource] and
// [Public.AccountSource]) put their tokens on requests themselves
// ([bearer.RequestAuthorizer]): a [bearer.Transport] sends
// "Authorization: DPoP <token>" with a fresh proof for each request and
// each resend (method, URL without query and fragment, the token's hash),
// answers a resource's use_dpop_nonce challenge by one resend with the
// nonce, and hands the source every response's DPoP-Nonce
// ([bearer.NonceReceiver]), which is remembered per origin (scheme, host
// and port) and used in the next proofs for that origin. Resources'
// nonces and the authority's are kept apart.
//
// Proofs carry the iat of the application's clock ([WithClock]). The
// default is no DPoP: bearer tokens. Used by every flow that asks for a
// token (not by managed identity).
func WithDPoP(key crypto.Signer) Option {
	return func(c *config) { c.dpopKey, c.dpopSet = key, true }
}

// dpopState is a DPoP application's key, its proof signers and the
// nonces servers gave it. It is safe for concurrent use.
type dpopState struct {
	key   crypto.Signer
	jkt   string // the key's RFC 7638 thumbprint: cnf.jkt, the cache's key ID
	clock func() time.Time
	log   logger

	mu      sync.Mutex
	signers map[string]*dpop.Signer // by algorithm

	// resource signs resource proofs: the algorithm last chosen for the
	// authority (a resource that takes its tokens likely takes its
	// algorithms), else the key's default.
	resource atomic.Pointer[dpop.Signer]

	authority, resources nonceStore
}

// newDPoP returns the DPoP state cfg asks for, nil without [WithDPoP].
func newDPoP(cfg *config, log logger) (*dpopState, error) {
	if !cfg.dpopSet {
		return nil, nil
	}
	if cfg.dpopKey == nil {
		return nil, fmt.Errorf("%w: WithDPoP was given a nil key", ErrInvalidOption)
	}
	def, err := dpop.New(cfg.dpopKey, "")
	if err != nil {
		return nil, fmt.Errorf("%w: WithDPoP: %w", ErrInvalidOption, err)
	}
	d := &dpopState{
		key:     cfg.dpopKey,
		jkt:     def.Thumbprint(),
		clock:   cfg.clock,
		log:     log,
		signers: map[string]*dpop.Signer{def.Algorithm(): def},
	}
	d.resource.Store(def)
	return d, nil
}

// keyID is the cache's key ID of the tokens d's application asks for:
// its key's thumbprint, "" without DPoP.
func (d *dpopState) keyID() string {
	if d == nil {
		return ""
	}
	return d.jkt
}

// signer returns the signer of the algorithm the key signs for an
// authority that accepts algs.
func (d *dpopState) signer(algs []string) (*dpop.Signer, error) {
	alg, err := dpop.Choose(d.key.Public(), algs)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.signers[alg]
	if !ok {
		if s, err = dpop.New(d.key, alg); err != nil {
			return nil, err
		}
		d.signers[alg] = s
	}
	d.resource.Store(s)
	return s, nil
}

// dpopAlgs returns the proof algorithms the authority of ep accepts,
// reading its discovery document (once, then cached) when ep was not
// discovered; none is an error wrapping ErrDPoPNotSupported.
func (c *core) dpopAlgs(ctx context.Context, ep *endpoints) ([]string, error) {
	algs := ep.dpopAlgs
	if !ep.discovered {
		m, err := c.resolver.metadata(ctx, ep.authority)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: cannot read whether the authority supports it: %w", ErrDPoPNotSupported, ep.authority, err)
		}
		algs = m.dpopAlgs
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("%w: %s lists no dpop_signing_alg_values_supported in its discovery document", ErrDPoPNotSupported, ep.authority)
	}
	return algs, nil
}

// supportsDPoP reports whether the application's authority lists
// dpop_signing_alg_values_supported in its discovery document.
func (c *core) supportsDPoP(ctx context.Context) (bool, error) {
	m, err := c.resolver.metadata(ctx, c.authority)
	if err != nil {
		return false, err
	}
	return len(m.dpopAlgs) > 0, nil
}

// SupportsDPoP reports whether the application's authority supports DPoP
// (RFC 9449): whether its discovery document lists
// dpop_signing_alg_values_supported. It reads the document (once, then
// cached), also for authorities whose endpoints need no discovery. It is
// the counterpart of MSAL's is_pop_supported, which is about the
// broker's proof-of-possession tokens, a scheme of Entra's own; Entra
// does not support DPoP.
func (c *Confidential) SupportsDPoP(ctx context.Context) (bool, error) {
	return c.supportsDPoP(ctx)
}

// SupportsDPoP reports whether the application's authority supports DPoP
// (RFC 9449), as [Confidential.SupportsDPoP] does.
func (p *Public) SupportsDPoP(ctx context.Context) (bool, error) {
	return p.supportsDPoP(ctx)
}

// send sends a token request to endpoint of ep: as it is without DPoP;
// with DPoP, with a fresh proof on every attempt (carrying the
// authority's latest nonce), one more attempt after a 400 use_dpop_nonce
// that came with a nonce, and the answer's token_type checked.
func (c *core) send(ctx context.Context, ep *endpoints, endpoint string, req *oauth.Request) (*oauth.TokenResponse, error) {
	d := c.dpop
	if d == nil {
		return c.wire.Token(ctx, req)
	}
	algs, err := c.dpopAlgs(ctx, ep)
	if err != nil {
		return nil, err
	}
	signer, err := d.signer(algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDPoPNotSupported, ep.authority, err)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("flow: token endpoint %q: %w", endpoint, err)
	}
	origin := originOf(u)
	r := *req
	authenticate := req.Authenticate
	r.Authenticate = func(ctx context.Context, form url.Values, header http.Header) error {
		if authenticate != nil {
			if err := authenticate(ctx, form, header); err != nil {
				return err
			}
		}
		p, err := signer.Proof(http.MethodPost, u, d.clock(), d.authority.get(origin), "")
		if err != nil {
			return err
		}
		header.Set("DPoP", p)
		return nil
	}
	for retried := false; ; retried = true {
		resp, err := c.wire.Do(ctx, &r)
		if err != nil {
			return nil, err
		}
		nonce := resp.Header.Get("DPoP-Nonce")
		if nonce != "" {
			d.authority.set(origin, nonce)
		}
		if resp.StatusCode/100 == 2 {
			tok, err := oauth.ParseTokenResponse(resp.Body, resp.SentAt)
			if err != nil {
				var re *oauth.ResponseError
				if errors.As(err, &re) {
					re.StatusCode = resp.StatusCode
					re.ClientRequestID = resp.ClientRequestID
				}
				return nil, err
			}
			if !strings.EqualFold(tok.TokenType, tokenTypeDPoP) {
				return nil, fmt.Errorf("%w: %s answered a DPoP token request with token_type %q: the token is not bound to the key and was discarded",
					ErrDPoPNotSupported, ep.authority, clipText(tok.TokenType))
			}
			tok.TokenType = tokenTypeDPoP
			tok.StatusCode = resp.StatusCode
			return tok, nil
		}
		re := resp.Error()
		if re.Code != "use_dpop_nonce" || nonce == "" || retried {
			return nil, re
		}
		c.log.debug(ctx, "flow: the authority asks for a DPoP nonce; sending the request again with it",
			slog.String("endpoint", endpoint))
	}
}

// sourceOf returns src, as a source of DPoP-bound tokens that authorizes
// requests itself when the application uses DPoP.
func (c *core) sourceOf(src bearer.TokenSource) bearer.TokenSource {
	if c.dpop == nil {
		return src
	}
	return dpopSource{TokenSource: src, d: c.dpop}
}

// dpopSource is a source of DPoP-bound tokens: it puts them on requests
// with a proof ([bearer.RequestAuthorizer]) and keeps the nonces
// resources send ([bearer.NonceReceiver]).
type dpopSource struct {
	bearer.TokenSource
	d *dpopState
}

// AuthorizeRequest sets "Authorization: DPoP <token>" and a DPoP header
// with a fresh proof for req: its method and URL (without query and
// fragment), the token's hash, and the nonce given, else the latest one
// of req's origin.
func (s dpopSource) AuthorizeRequest(req *http.Request, tok bearer.Token, nonce string) error {
	if tok.AccessToken == "" {
		return errors.New("flow: the token source returned an empty access token")
	}
	if !strings.EqualFold(tok.TokenType, tokenTypeDPoP) {
		return fmt.Errorf("flow: a DPoP source got a token of type %q", clipText(tok.TokenType))
	}
	if req.URL == nil {
		return errors.New("flow: the request has no URL")
	}
	origin := originOf(req.URL)
	if nonce != "" {
		s.d.resources.set(origin, nonce)
	} else {
		nonce = s.d.resources.get(origin)
	}
	p, err := s.d.resource.Load().Proof(req.Method, req.URL, s.d.clock(), nonce, tok.AccessToken)
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = make(http.Header, 2)
	}
	req.Header["Authorization"] = []string{"DPoP " + tok.AccessToken}
	req.Header["Dpop"] = []string{p}
	return nil
}

// ReceiveNonce remembers nonce as the latest DPoP nonce of req's origin.
func (s dpopSource) ReceiveNonce(req *http.Request, nonce string) {
	if req.URL != nil {
		s.d.resources.set(originOf(req.URL), nonce)
	}
}

// originOf is u's origin: scheme, host and port, lower-cased.
func originOf(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// Bounds of a nonce store.
const (
	maxNonceOrigins = 256
	maxNonceLen     = 1024
)

// nonceStore holds the latest DPoP nonce of each origin. It forgets an
// arbitrary origin when it holds maxNonceOrigins, and ignores nonces
// longer than maxNonceLen.
type nonceStore struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *nonceStore) get(origin string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[origin]
}

func (s *nonceStore) set(origin, nonce string) {
	if nonce == "" || len(nonce) > maxNonceLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	if _, ok := s.m[origin]; !ok && len(s.m) >= maxNonceOrigins {
		for o := range s.m {
			delete(s.m, o)
			break
		}
	}
	s.m[origin] = nonce
}

// clipText shortens an outside value for an error message.
func clipText(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// tokenTypeOf is the cache's token type of tokens bound to the DPoP key
// whose thumbprint is key: DPoP, or "" (Bearer) for none.
func tokenTypeOf(key string) string {
	if key == "" {
		return ""
	}
	return tokenTypeDPoP
}
