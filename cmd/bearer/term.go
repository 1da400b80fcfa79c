package main

import (
	"io"
	"os"
)

// isTerminal reports whether w is a terminal (a console on Windows):
// output meant for people (a spinner, pretty JSON) goes only there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminalFD(f.Fd())
}
