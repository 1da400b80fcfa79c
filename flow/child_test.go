package flow

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
)

// Tests that need several processes run this test binary again as
// children: TestChildApp with the environment below. A child makes a flow
// application as the environment says, prints "ready", and then obeys
// the commands it reads from stdin, one a line, answering each on stdout:
//
//	token         AcquireTokenForClient(graphDefault): "token <hash> <from-cache>"
//	exit          exits 0
//
// <hash> is the first 16 hex digits of the token's SHA-256 (a token never
// goes to a log). Errors are answered "error <message>".
const (
	envChildApp   = "FLOW_TEST_CHILD_APP"   // set in children
	envAuthority  = "FLOW_TEST_AUTHORITY"   // the authority URL
	envOIDC       = "FLOW_TEST_OIDC"        // "1": the authority is an OIDC one
	envRedis      = "FLOW_TEST_REDIS"       // a Redis address: a redisstore cache
	envPrefix     = "FLOW_TEST_PREFIX"      // its key prefix
	envFile       = "FLOW_TEST_FILE"        // a file: a filestore cache
	envNoFleet    = "FLOW_TEST_NO_FLEET"    // "1": WithFleetCoalescing{Disabled: true}
	envLeaseTTL   = "FLOW_TEST_LEASE_TTL"   // FleetCoalescing.LeaseTTL
	envBlockToken = "FLOW_TEST_BLOCK_TOKEN" // "1": token requests never leave (the child says "holding" instead)
	envMetadata   = "FLOW_TEST_METADATA"    // "1": WithMetadataStore of the same store
)

// childApp is one running child.
type childApp struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan error
}

// childTimeout bounds the wait for one line of a child.
const childTimeout = 2 * time.Minute

// startChild starts a child with env (KEY=value entries) and waits for its
// "ready".
func startChild(t *testing.T, env ...string) *childApp {
	t.Helper()
	c := launchChild(t, env...)
	c.expect("ready")
	return c
}

// launchChild starts a child with env; its first line will be "ready".
func launchChild(t *testing.T, env ...string) *childApp {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestChildApp$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), envChildApp+"=1"), env...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childApp{t: t, cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() {
		err := cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		c.done <- err
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
	})
	return c
}

// expect returns the child's next line, which must start with prefix.
func (c *childApp) expect(prefix string) string {
	c.t.Helper()
	timer := time.NewTimer(childTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("the child ended: %v", <-c.done)
		}
		if !strings.HasPrefix(line, prefix) {
			c.t.Fatalf("the child said %q, want %q…", line, prefix)
		}
		return line
	case <-timer.C:
		c.t.Fatalf("the child said nothing for %v", childTimeout)
	}
	return ""
}

func (c *childApp) send(cmd string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		c.t.Fatal(err)
	}
}

// exit asks the child to exit and waits for it.
func (c *childApp) exit() {
	c.t.Helper()
	c.send("exit")
	if err := <-c.done; err != nil {
		var rest []string
		for line := range c.lines {
			rest = append(rest, line)
		}
		c.t.Fatalf("child: %v\n%s", err, strings.Join(rest, "\n"))
	}
}

// kill stops the child at once (SIGKILL).
func (c *childApp) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:8])
}

// TestChildApp is a child of the multi-process tests, not a test of its
// own (see startChild).
func TestChildApp(t *testing.T) {
	if os.Getenv(envChildApp) == "" {
		t.Skip("run as a child process by the multi-process tests")
	}
	var store cache.Store
	if addr := os.Getenv(envRedis); addr != "" {
		rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
		defer rc.Close()
		store = redisstore.New(rc, os.Getenv(envPrefix))
	}
	if path := os.Getenv(envFile); path != "" {
		fs, err := filestore.New(path)
		if err != nil {
			t.Fatal(err)
		}
		store = fs
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	defer base.CloseIdleConnections() // goleak, at the end of the child's run
	var transport http.RoundTripper = base
	if os.Getenv(envBlockToken) == "1" {
		transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				fmt.Println("holding")
				select {} // until the test kills this process
			}
			return base.RoundTrip(r)
		})
	}
	opts := []Option{WithHTTPClient(&http.Client{Transport: transport}), WithCache(cache.New(cache.WithStore(store)))}
	if os.Getenv(envOIDC) == "1" {
		opts = append(opts, WithOIDCAuthority(os.Getenv(envAuthority)))
	} else {
		opts = append(opts, WithAuthority(os.Getenv(envAuthority)))
	}
	if os.Getenv(envMetadata) == "1" {
		opts = append(opts, WithMetadataStore(store))
	}
	if os.Getenv(envNoFleet) == "1" {
		opts = append(opts, WithFleetCoalescing(FleetCoalescing{Disabled: true}))
	}
	if d, err := time.ParseDuration(os.Getenv(envLeaseTTL)); err == nil {
		opts = append(opts, WithFleetCoalescing(FleetCoalescing{LeaseTTL: d}))
	}
	app, err := NewConfidential(daemonID, credential.Secret(daemonSecret), opts...)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "token":
			r, err := app.AcquireTokenForClient(context.Background(), []string{graphDefault})
			if err != nil {
				fmt.Println("error", strings.ReplaceAll(err.Error(), "\n", " "))
				continue
			}
			fmt.Println("token", tokenHash(r.AccessToken), r.FromCache)
		case "exit":
			return
		}
	}
}
