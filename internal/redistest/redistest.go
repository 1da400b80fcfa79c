// Package redistest runs a real redis-server for tests: on a random port
// of 127.0.0.1, with no persistence, in a temporary directory, stopped
// when the test ends. A test that needs it fails when redis-server is not
// installed and the environment says CI=true (CI installs it), and is
// skipped otherwise.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process.
type Server struct {
	// Addr is its address, "127.0.0.1:port". It stays the same across
	// Restart.
	Addr string

	tb   testing.TB
	bin  string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// startTimeout bounds the wait for a redis-server to say it is ready.
const startTimeout = 30 * time.Second

// Start starts a redis-server for tb, stopped by tb's cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("redis-server is not installed (CI installs it: apt-get install redis-server): %v", err)
		}
		tb.Skipf("redis-server is not installed: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	// A free port is found by listening on port 0; another process may
	// take it before redis-server binds it, so a failed start tries
	// another port.
	var lastErr error
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		s.Addr = l.Addr().String()
		l.Close()
		if lastErr = s.start(); lastErr == nil {
			tb.Cleanup(s.Kill)
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// start runs redis-server on s.Addr and returns once it accepts
// connections.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin,
		"--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--loglevel", "notice", "--logfile", "")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	// redis-server logs "Ready to accept connections" once it listens.
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if log.Len() < 8<<10 {
				log.WriteString(line + "\n")
			}
			if strings.Contains(line, "Ready to accept connections") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-done:
		return fmt.Errorf("redis-server on %s exited at start:\n%s", s.Addr, log.String())
	case <-t.C:
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("redis-server on %s not ready after %v:\n%s", s.Addr, startTimeout, log.String())
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// Client returns a client of the server, closed by the test's cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.Options())
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// Options returns client options for the server: short timeouts and no
// retries, so a test of an outage does not wait long for each failure.
func (s *Server) Options() *redis.Options {
	return &redis.Options{
		Addr:         s.Addr,
		DialTimeout:  2 * time.Second,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 5 * time.Second,
		MaxRetries:   -1,
		PoolSize:     32,
	}
}

// Kill stops the server at once (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same address, empty (it keeps
// nothing on disk), and returns once it accepts connections.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// Ping reports whether the server answers.
func (s *Server) Ping(ctx context.Context) error {
	c := redis.NewClient(s.Options())
	defer c.Close()
	return c.Ping(ctx).Err()
}
