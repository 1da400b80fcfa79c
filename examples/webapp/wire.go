package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/bearerhttp/bearer/challenge"
)

// wireLog is what one page's calls sent and got back, shown on the page
// so that a recovery from a challenge can be seen: method, host, path,
// status and the challenge's error code. Never a token, a query or a body.
type wireLog struct {
	mu    sync.Mutex
	lines []string
}

type wireKey struct{}

// withWire returns a context whose calls are recorded in the returned log.
func withWire(ctx context.Context) (context.Context, *wireLog) {
	l := &wireLog{}
	return context.WithValue(ctx, wireKey{}, l), l
}

func (l *wireLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 20 {
		l.lines = append(l.lines, line)
	}
}

// Lines returns the lines recorded so far.
func (l *wireLog) Lines() []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// tracer is an http.RoundTripper that records each exchange in the
// request context's wireLog, if it has one.
type tracer struct{ base http.RoundTripper }

func (t tracer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	l, _ := req.Context().Value(wireKey{}).(*wireLog)
	if l == nil {
		return resp, err
	}
	what := req.Method + " " + req.URL.Host + req.URL.Path
	if strings.HasSuffix(req.URL.Path, "/token") {
		what += " (token request)"
	} else if req.Header.Get("Authorization") != "" {
		what += " (with a token)"
	}
	switch {
	case err != nil:
		l.add(what + ": failed")
	default:
		line := fmt.Sprintf("%s: %d", what, resp.StatusCode)
		for _, c := range challenge.FromResponse(resp) {
			code := c.Param("error")
			if len(code) > 64 { // the resource's words: kept short
				code = code[:64] + "…"
			}
			switch {
			case c.IsCAE():
				line += ", a claims challenge (" + code + ")"
			case c.IsStepUp():
				line += ", a step-up challenge (" + code + ")"
			case code != "":
				line += ", a challenge (" + code + ")"
			}
		}
		l.add(line)
	}
	return resp, err
}
