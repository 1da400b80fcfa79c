package main

import (
	"io"
	"os"
	"sync"
)

// isTerminal reports whether w is a terminal (a console on Windows):
// output meant for people (a spinner, pretty JSON) goes only there.
func isTerminal(w io.Writer) bool {
	if s, ok := w.(*syncWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	return ok && isTerminalFD(f.Fd())
}

// syncWriter serializes writes to w: standard error is written by the
// logger and the progress line's goroutine, and a line must not be cut
// by another.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
