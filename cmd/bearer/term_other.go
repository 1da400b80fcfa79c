//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly && !windows

package main

// isTerminalFD reports false: no terminal detection on this system.
func isTerminalFD(uintptr) bool { return false }
