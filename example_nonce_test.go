package bearer_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/bearerhttp/bearer"
)

// popSource is a proof-of-possession source in miniature: it puts its
// token on each request itself (bearer.RequestAuthorizer), with the
// latest nonce the server handed out (bearer.NonceReceiver). A real DPoP
// source (flow.WithDPoP) signs a proof there.
type popSource struct {
	mu    sync.Mutex
	nonce string
}

func (s *popSource) Token(context.Context, bearer.TokenRequest) (bearer.Token, error) {
	return bearer.Token{AccessToken: "tok", TokenType: "DPoP"}, nil
}

func (s *popSource) AuthorizeRequest(req *http.Request, tok bearer.Token, nonce string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if nonce == "" {
		nonce = s.nonce
	}
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	req.Header.Set("DPoP", "proof;nonce="+nonce)
	return nil
}

func (s *popSource) ReceiveNonce(req *http.Request, nonce string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonce = nonce
}

// A server that hands out a new DPoP nonce with every answer: the
// transport gives each one to the source, whose next request carries it.
func ExampleNonceReceiver() {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("server: DPoP %s\n", r.Header.Get("DPoP"))
		n++
		w.Header().Set("DPoP-Nonce", fmt.Sprintf("n%d", n))
	}))
	defer srv.Close()

	client := &http.Client{Transport: &bearer.Transport{Source: &popSource{}, AllowedHosts: []string{"127.0.0.1"}}}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
	}
	// Output:
	// server: DPoP proof;nonce=
	// server: DPoP proof;nonce=n1
	// server: DPoP proof;nonce=n2
}
