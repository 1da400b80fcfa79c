package main

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"
)

// The binaries the tests run: bearer itself and cmd/authtest, built once
// by TestMain.
var (
	bearerBin   string
	authtestBin string
	buildErr    error
)

// Environment of the test binary run as a browser (see browserMain).
const (
	envBrowser  = "BEARER_TEST_BROWSER"  // "1": act as the browser
	envUser     = "BEARER_TEST_USER"     // who signs in
	envPassword = "BEARER_TEST_PASSWORD" // their password
	envPage     = "BEARER_TEST_PAGE"     // where to write the page the loopback server answered
)

func TestMain(m *testing.M) {
	if os.Getenv(envBrowser) == "1" {
		os.Exit(browserMain(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "bearer-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	bearerBin = filepath.Join(dir, "bearer"+exe)
	authtestBin = filepath.Join(dir, "authtest"+exe)
	buildErr = build(bearerBin, ".")
	if buildErr == nil {
		buildErr = build(authtestBin, "../authtest")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles the package at pkg into out.
func build(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// needBinaries skips nothing: a build failure fails the test.
func needBinaries(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// browserMain is the test binary run by bearer as $BROWSER: it signs the
// user in through authtest's sign-in form at the URL it is given and
// writes the page bearer's loopback server answered to $BEARER_TEST_PAGE.
func browserMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "test browser: want one URL, got", args)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, page, err := signIn(ctx, args[0], os.Getenv(envUser), os.Getenv(envPassword))
	if err != nil {
		fmt.Fprintln(os.Stderr, "test browser:", err)
		return 1
	}
	if p := os.Getenv(envPage); p != "" {
		if err := os.WriteFile(p, []byte(fmt.Sprintf("%d\n%s", status, page)), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "test browser:", err)
			return 1
		}
	}
	return 0
}

var (
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// signIn plays the user's browser at authURL: it gets authtest's sign-in
// form, posts it with username and password (or presses Cancel when
// username is empty), and follows the redirect to the application's
// loopback server, whose status and page it returns.
func signIn(ctx context.Context, authURL, username, password string) (int, string, error) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := formAction.FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || m == nil {
		return 0, "", fmt.Errorf("no sign-in form at the authorization URL: %d %.300s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, h := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	form.Set("authtest_action", "signin")
	if username == "" {
		form.Set("authtest_action", "cancel")
	}
	form.Set("authtest_username", username)
	form.Set("authtest_password", password)
	action, err := url.Parse(authURL)
	if err != nil {
		return 0, "", err
	}
	if action, err = action.Parse(html.UnescapeString(m[1])); err != nil {
		return 0, "", err
	}
	resp, err = c.PostForm(action.String(), form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", err
	}
	if resp.Request.URL.Host == action.Host {
		return 0, "", errors.New("the authority did not redirect to the application: " + string(body))
	}
	return resp.StatusCode, string(body), nil
}
