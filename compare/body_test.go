package compare

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// streamBody is a request body that can be read once, as an upload
// streamed from a pipe or a socket is; it counts the bytes read from it.
type streamBody struct {
	r    io.Reader
	read atomic.Int64
}

func (s *streamBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.read.Add(int64(n))
	return n, err
}

func (s *streamBody) Close() error { return nil }

// TestCompareStreamedBodyChallenge: a caller's *http.Request carries a body
// that can be read only once (no GetBody), and the resource answers with
// a claims challenge. This is a trade-off, not a win: azcore's
// runtime.NewRequestFromRequest reads the whole body into memory before
// anything is sent, and so can resend it after the challenge; bearer
// streams the body as it is read, and hands the caller the 401 (it cannot
// resend what it did not keep) without asking for a token.
func TestCompareStreamedBodyChallenge(t *testing.T) {
	const body = `{"subject":"hello","body":"a streamed message"}`
	scopes := []string{"https://graph.microsoft.com/.default"}
	header := `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNzI2MDc3NTk1In19fQ=="`
	newRequest := func(t *testing.T, url string) (*http.Request, *streamBody) {
		t.Helper()
		sb := &streamBody{r: strings.NewReader(body)}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, sb)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req, sb
	}

	t.Run("azcore buffers the body and resends it", func(t *testing.T) {
		w := newWorld(t)
		rec := &recorder{}
		res := w.tls(t, challengeResource(header, rec))
		src := &tokens{}
		req, sb := newRequest(t, res.url("graph.microsoft.com", "/v1.0/me/sendMail"))
		preq, err := runtime.NewRequestFromRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := sb.read.Load(); got != int64(len(body)) || len(rec.all()) != 0 {
			t.Fatalf("before sending: %d of %d bytes read, %d requests received; want the whole body read, nothing sent", got, len(body), len(rec.all()))
		}
		resp, err := azcorePipeline(w, src, scopes).Do(preq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		hits := rec.all()
		if resp.StatusCode != http.StatusOK || len(hits) != 2 || hits[1].body != body {
			t.Errorf("status %d, resource received %+v; want OK and the body twice", resp.StatusCode, hits)
		}
	})

	t.Run("bearer streams the body and returns the 401", func(t *testing.T) {
		w := newWorld(t)
		rec := &recorder{}
		res := w.tls(t, challengeResource(header, rec))
		src := &tokens{}
		req, _ := newRequest(t, res.url("graph.microsoft.com", "/v1.0/me/sendMail"))
		got := outcome{}
		resp, err := bearerClient(w, src, scopes).Do(req)
		if err != nil {
			got.err = err
		} else {
			resp.Body.Close()
			got.status = resp.StatusCode
		}
		hits := rec.all()
		if got.status != http.StatusUnauthorized || len(hits) != 1 || hits[0].body != body {
			t.Errorf("got %v, resource received %+v; want the 401 after one request with the body", got, hits)
		}
		if asked := src.asked(); len(asked) != 1 || asked[0] != "" {
			t.Errorf("token requests with claims %q, want one without claims", asked)
		}
	})
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// BenchmarkCompareStreamedUpload sends a 4 MiB body that can be read only
// once (no GetBody) to a resource that accepts it: through azcore
// (runtime.NewRequestFromRequest, then the pipeline) and through bearer.
// B/op shows what each holds in memory for it.
func BenchmarkCompareStreamedUpload(b *testing.B) {
	const size = 4 << 20
	scopes := []string{"https://graph.microsoft.com/.default"}
	w := newWorld(b)
	res := w.tls(b, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	url := res.url("graph.microsoft.com", "/v1.0/upload")
	newRequest := func(b *testing.B) *http.Request {
		req, err := http.NewRequest(http.MethodPut, url, io.NopCloser(io.LimitReader(zeros{}, size)))
		if err != nil {
			b.Fatal(err)
		}
		return req
	}
	check := func(b *testing.B, resp *http.Response, err error) {
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.Run("azcore", func(b *testing.B) {
		pl := azcorePipeline(w, &tokens{}, scopes)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			preq, err := runtime.NewRequestFromRequest(newRequest(b))
			if err != nil {
				b.Fatal(err)
			}
			resp, err := pl.Do(preq)
			check(b, resp, err)
		}
	})
	b.Run("bearer", func(b *testing.B) {
		c := bearerClient(w, &tokens{}, scopes)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Do(newRequest(b))
			check(b, resp, err)
		}
	})
}
