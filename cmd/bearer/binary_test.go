package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// authtestProc is cmd/authtest running as a program.
type authtestProc struct {
	URL  string
	cmd  *exec.Cmd
	once sync.Once
}

// startAuthtest runs the built cmd/authtest on a free loopback port with
// testdata/authtest.json, asking device code clients to poll every
// second.
func startAuthtest(t *testing.T) *authtestProc {
	t.Helper()
	needBinaries(t)
	cmd := exec.Command(authtestBin, "-addr", "127.0.0.1:0", "-config", filepath.Join("testdata", "authtest.json"), "-device-code-interval", "1s", "-quiet")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &authtestProc{cmd: cmd}
	t.Cleanup(p.stop)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "authtest listening on "); ok {
			p.URL = rest
		}
		if strings.HasPrefix(line, "registered:") {
			break
		}
	}
	if p.URL == "" {
		t.Fatalf("cmd/authtest printed no URL")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return p
}

// stop ends the authority: nothing answers at its URL afterwards.
func (p *authtestProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	})
}

// approve signs username in on the device code userCode, through
// authtest's verification page (the form a user posts).
func (p *authtestProc) approve(userCode, username, password string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).PostForm(p.URL+"/devicelogin", url.Values{
		"user_code": {userCode}, "username": {username}, "password": {password}, "action": {"approve"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "You have signed in on the device") {
		return errors.New("approval refused: " + string(b))
	}
	return nil
}

// userEnv is a clean environment for the built bearer: a home of its own
// (its cache goes to $XDG_CONFIG_HOME/bearer), nothing of the test
// runner's (no AZURE_* variables).
func userEnv(t *testing.T) (env []string, configDir string) {
	home := t.TempDir()
	env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "AppData=" + filepath.Join(home, "config"), "PATH=" + os.Getenv("PATH")}
	if runtime.GOOS == "windows" {
		env = append(env, "SystemRoot="+os.Getenv("SystemRoot"))
	}
	dir, err := userConfigDir(func(k string) string {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return v
			}
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return env, filepath.Join(dir, "bearer")
}

// bearerRun runs the built bearer with env and args.
func bearerRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bearerBin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

var userCodeLine = regexp.MustCompile(`enter the code ([A-Z0-9]+) to authenticate`)

func TestBinaryDeviceCodeLoginCachedTokenLogout(t *testing.T) {
	needBinaries(t)
	at := startAuthtest(t)
	env, dir := userEnv(t)
	login := exec.Command(bearerBin, "login", "--authority", at.URL, "--tenant", "contoso.com", "--client-id", "my-cli")
	login.Env = env
	stderr, err := login.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := login.Start(); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	sc := bufio.NewScanner(stderr)
	approved := false
	for sc.Scan() {
		shown.WriteString(sc.Text() + "\n")
		if m := userCodeLine.FindStringSubmatch(sc.Text()); m != nil && !approved {
			if err := at.approve(m[1], "alice@contoso.com", "alice-PASSWORD-4567"); err != nil {
				t.Fatal(err)
			}
			approved = true
		}
	}
	if err := login.Wait(); err != nil {
		t.Fatalf("login: %v\n%s", err, shown.String())
	}
	if !strings.Contains(shown.String(), "Waiting for you to sign in (15m0s left)…\n") || !strings.HasSuffix(shown.String(), "Signed in as alice@contoso.com.\n") {
		t.Errorf("login's output:\n%s", shown.String())
	}
	for _, name := range []string{cacheName, cacheName + ".lock", profileName} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != 0o600 && runtime.GOOS != "windows" {
			t.Errorf("%s in the user's configuration directory: %v", name, err)
		}
	}
	tok := bearerRun(t, env, "token", "--scope", graph).must(t, 0).stdout
	me := bearerRun(t, env, "get", at.URL+"/v1.0/me", "--scope", graph).must(t, 0).stdout
	if !strings.Contains(me, `"userPrincipalName":"alice@contoso.com"`) {
		t.Errorf("GET /v1.0/me: %s", me)
	}
	// The authority goes away: the token is served from the file cache.
	at.stop()
	if again := bearerRun(t, env, "token", "--scope", graph).must(t, 0).stdout; again != tok {
		t.Errorf("the second token differs (not from the cache)")
	}
	r := bearerRun(t, env, "logout").must(t, 0)
	if !strings.Contains(r.stderr, "Signed out alice@contoso.com.") {
		t.Errorf("logout: %q", r.stderr)
	}
	assertNoTokens(t, filepath.Join(dir, cacheName))
	bearerRun(t, env, "token", "--scope", graph).must(t, exitSignIn)
}

func TestBinaryInteractiveLogin(t *testing.T) {
	needBinaries(t)
	at := startAuthtest(t)
	env, _ := userEnv(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(t.TempDir(), "page.html")
	// $BROWSER: a command that does not exist, then this test binary as
	// the browser (see browserMain).
	env = append(env, "BROWSER=/nonexistent/browser:"+self, envBrowser+"=1", envUser+"=bob@contoso.com", envPassword+"=bob-PASSWORD-8910", envPage+"="+page)
	r := bearerRun(t, env, "login", "--interactive", "--authority", at.URL+"/contoso.com", "--client-id", "my-cli").must(t, 0)
	if !strings.Contains(r.stderr, "Opening a browser to sign in…") || !strings.Contains(r.stderr, "Signed in as bob@contoso.com.") ||
		strings.Contains(r.stderr, "Could not open a browser") {
		t.Errorf("login's output: %q", r.stderr)
	}
	b, err := os.ReadFile(page)
	if err != nil || !strings.HasPrefix(string(b), "200\n") || !strings.Contains(string(b), "You have signed in") {
		t.Errorf("the browser's page: %q %v", b, err)
	}
	var me map[string]any
	out := bearerRun(t, env, "get", at.URL+"/v1.0/me", "--scope", graph).must(t, 0).stdout
	if err := json.Unmarshal([]byte(out), &me); err != nil || me["userPrincipalName"] != "bob@contoso.com" {
		t.Errorf("GET /v1.0/me: %s", out)
	}
	nope := bearerRun(t, env, "get", at.URL+"/v1.0/nope", "--scope", graph).must(t, exitHTTP4xx)
	if !strings.Contains(nope.stdout, `"error"`) || !strings.Contains(nope.stderr, "the API answered 400 Bad Request") {
		t.Errorf("GET /v1.0/nope: %q %q", nope.stdout, nope.stderr)
	}
}

func TestBinaryNoBrowserPrintsTheURL(t *testing.T) {
	needBinaries(t)
	at := startAuthtest(t)
	env, _ := userEnv(t)
	env = append(env, "BROWSER=/nonexistent/browser")
	cmd := exec.Command(bearerBin, "login", "--interactive", "--timeout", "20s", "--authority", at.URL+"/contoso.com", "--client-id", "my-cli")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		shown.WriteString(sc.Text() + "\n")
		if u, ok := strings.CutPrefix(sc.Text(), "    "); ok && strings.HasPrefix(u, at.URL) {
			// The user copies the URL into a browser.
			status, page, err := signIn(t.Context(), u, "alice@contoso.com", "alice-PASSWORD-4567")
			if err != nil || status != 200 || !strings.Contains(page, "You have signed in") {
				t.Errorf("sign-in through the printed URL: %d %v", status, err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login: %v\n%s", err, shown.String())
	}
	if !strings.Contains(shown.String(), "Could not open a browser (/nonexistent/browser: ") || !strings.Contains(shown.String(), "Signed in as alice@contoso.com.") {
		t.Errorf("login's output:\n%s", shown.String())
	}
}

func TestBinaryInterrupted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT on Windows")
	}
	needBinaries(t)
	at := startAuthtest(t)
	env, _ := userEnv(t)
	cmd := exec.Command(bearerBin, "login", "--authority", at.URL, "--tenant", "contoso.com", "--client-id", "my-cli")
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		shown.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "Waiting for you to sign in") {
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.HasSuffix(shown.String(), "bearer: interrupted\n") {
		t.Errorf("exit %v, output:\n%s", err, shown.String())
	}
}
