package bearer

import (
	"net/http"
	"reflect"
	"sync"
	"testing"
)

// nonceSource is a DPoP-like source that keeps the nonces the transport
// hands it and puts the latest in its proofs.
type nonceSource struct {
	dpopSource
	mu       sync.Mutex
	received []string // "host nonce"
	latest   string
}

func (s *nonceSource) ReceiveNonce(req *http.Request, nonce string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received = append(s.received, req.URL.Hostname()+" "+nonce)
	s.latest = nonce
}

func (s *nonceSource) AuthorizeRequest(req *http.Request, tok Token, nonce string) error {
	s.mu.Lock()
	if nonce == "" {
		nonce = s.latest
	}
	s.mu.Unlock()
	return s.dpopSource.AuthorizeRequest(req, tok, nonce)
}

func (s *nonceSource) nonces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.received...)
}

// TestTransportHandsNoncesToTheSource: every response's DPoP-Nonce goes
// to a source that implements NonceReceiver (a 200's included), so its
// next request carries the nonce without a use_dpop_nonce round trip;
// the 401 of a challenge hands its nonce over before the resend.
func TestTransportHandsNoncesToTheSource(t *testing.T) {
	w := newWorld(t)
	rec := &recorder{}
	type answer struct {
		status           int
		nonce, challenge string
	}
	var mu sync.Mutex
	var answers []answer
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec.add(hit{auth: r.Header.Get("Authorization"), body: r.Header.Get("DPoP")})
		mu.Lock()
		a := answers[0]
		answers = answers[1:]
		mu.Unlock()
		if a.nonce != "" {
			rw.Header().Set("DPoP-Nonce", a.nonce)
		}
		if a.challenge != "" {
			rw.Header().Set("WWW-Authenticate", a.challenge)
		}
		rw.WriteHeader(a.status)
	}))
	src := &nonceSource{}
	tr := graphTransport(w, src)
	get := func(as ...answer) int {
		mu.Lock()
		answers = as
		mu.Unlock()
		req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	nonceCh := `DPoP error="use_dpop_nonce"`
	if s := get(answer{401, "n1", nonceCh}, answer{200, "n2", ""}); s != 200 {
		t.Fatalf("status %d", s)
	}
	if s := get(answer{200, "", ""}); s != 200 {
		t.Fatalf("status %d", s)
	}
	want := []hit{
		{auth: "DPoP token-1", body: "proof nonce="},
		{auth: "DPoP token-1", body: "proof nonce=n1"},
		{auth: "DPoP token-2", body: "proof nonce=n2"}, // learnt from the 200
	}
	if got := rec.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("server saw %+v\nwant %+v", got, want)
	}
	if got := src.nonces(); len(got) != 2 || got[0] != "graph.microsoft.com "+"n1" || got[1] != "graph.microsoft.com n2" {
		t.Errorf("source received %q", got)
	}
}

// TestTransportNoNoncesForOtherSources: a bearer source (no
// RequestAuthorizer) that happens to have a ReceiveNonce method is never
// handed a nonce.
func TestTransportNoNoncesForOtherSources(t *testing.T) {
	w := newWorld(t)
	srv := w.tls(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("DPoP-Nonce", "n1")
	}))
	src := &bearerWithReceiver{}
	req, _ := http.NewRequest("GET", srv.url("graph.microsoft.com", "/"), nil)
	resp, err := graphTransport(w, src).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if src.n != 0 {
		t.Errorf("a bearer source was handed %d nonces", src.n)
	}
}

type bearerWithReceiver struct {
	recordingSource
	n int
}

func (s *bearerWithReceiver) ReceiveNonce(*http.Request, string) { s.n++ }
