package main

// This test drives the built bearer in a pseudo-terminal, opened with
// golang.org/x/sys/unix (already in the module's graph, through
// github.com/gofrs/flock, and now the CLI's terminal detection), so that
// no pty library (github.com/creack/pty is not among the allowed
// dependencies) and no nested module are needed: it runs with the rest
// of the package's tests on Linux.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master end, which the test
// reads, and the slave end, the program's terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil { // unlockpt
		m.Close()
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN) // ptsname
	if err != nil {
		m.Close()
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open the slave: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatalf("window size: %v", err)
	}
	return m, s
}

// screen collects what a program writes to its terminal, and lets the
// test wait for what it expects.
type screen struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
	done    chan struct{} // closed when the terminal is closed
}

func newScreen(master *os.File) *screen {
	s := &screen{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.b.Write(buf[:n])
			close(s.changed)
			s.changed = make(chan struct{})
			s.mu.Unlock()
			if err != nil { // EIO once the program and the test closed the slave
				return
			}
		}
	}()
	return s
}

// waitFor waits until the screen's text matches re and returns the match.
func (s *screen) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		m := re.FindStringSubmatch(s.b.String())
		ch := s.changed
		s.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-ch:
		case <-s.done:
			t.Fatalf("the terminal closed without %v:\n%q", re, s.text())
		case <-deadline.C:
			t.Fatalf("no %v on the terminal in 30 s:\n%q", re, s.text())
		}
	}
}

func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnTerminal starts the built bearer with its standard streams on a new
// pseudo-terminal.
func runOnTerminal(t *testing.T, env []string, args ...string) (*exec.Cmd, *screen, func()) {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bearerBin, args...)
	cmd.Env = append(env, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the program holds it now: its exit ends the reads
	scr := newScreen(master)
	return cmd, scr, func() {
		<-scr.done
		master.Close()
	}
}

func TestBinaryLoginProgressOnTerminal(t *testing.T) {
	needBinaries(t)
	at := startAuthtest(t)
	env, _ := userEnv(t)
	cmd, scr, closeTerm := runOnTerminal(t, env, "login", "--authority", at.URL, "--tenant", "contoso.com", "--client-id", "my-cli")
	code := scr.waitFor(t, userCodeLine)[1]
	// The spinner turns, with the time left, redrawn in place.
	frame := `\r\x1b\[K([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) Waiting for you to sign in… (1[45]:[0-5]\d) left`
	m := scr.waitFor(t, regexp.MustCompile(frame+`(?s:.*)`+frame))
	if m[1] == m[3] {
		t.Errorf("the spinner did not turn: %q then %q", m[1], m[3])
	}
	if err := at.approve(code, "alice@contoso.com", "alice-PASSWORD-4567"); err != nil {
		t.Fatal(err)
	}
	scr.waitFor(t, regexp.MustCompile(`\r\x1b\[KSigned in as alice@contoso\.com\.\r\n`))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v\n%q", err, scr.text())
	}
	closeTerm()
	if strings.Contains(scr.text(), "Waiting for you to sign in (") {
		t.Errorf("plain progress lines on a terminal:\n%q", scr.text())
	}

	// On a terminal, JSON is pretty-printed.
	cmd, scr, closeTerm = runOnTerminal(t, env, "get", at.URL+"/v1.0/me", "--scope", graph)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("get: %v\n%q", err, scr.text())
	}
	closeTerm()
	if !strings.Contains(scr.text(), "{\r\n  \"@odata.context\": ") || !strings.Contains(scr.text(), "\r\n  \"userPrincipalName\": \"alice@contoso.com\"\r\n}\r\n") {
		t.Errorf("not pretty-printed:\n%q", scr.text())
	}
}
