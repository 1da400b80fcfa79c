package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/bearerhttp/bearer/flow"
)

// openBrowser sends the user's browser to the authorization URL of an
// interactive sign-in: the test seam's browser, else $BROWSER, else the
// system's opener (flow.OpenBrowser). When none works, it prints the URL
// for the user to open, and the sign-in waits all the same.
func (c *cli) openBrowser(ctx context.Context, url string) error {
	var err error
	switch {
	case c.browser != nil:
		err = c.browser(ctx, url)
	case c.getenv("BROWSER") != "":
		err = c.runBrowserVar(ctx, c.getenv("BROWSER"), url)
	default:
		err = flow.OpenBrowser(ctx, url)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Could not open a browser (%v).\nTo sign in, open this URL in a browser on this computer:\n\n    %s\n\n", err, url)
	}
	return nil
}

// runBrowserVar opens url with the $BROWSER convention: a list of
// commands separated by colons (semicolons on Windows), tried in turn;
// %s in a command stands for the URL, else the URL is its last argument.
// A command runs with the terminal (standard input, and standard error
// for its output), so a text-mode browser works too.
func (c *cli) runBrowserVar(ctx context.Context, list, url string) error {
	sep := ":"
	if runtime.GOOS == "windows" {
		sep = ";"
	}
	var errs []error
	for _, entry := range strings.Split(list, sep) {
		args := strings.Fields(entry)
		if len(args) == 0 {
			continue
		}
		substituted := false
		for i, a := range args {
			if strings.Contains(a, "%s") {
				args[i], substituted = strings.ReplaceAll(a, "%s", url), true
			}
		}
		if !substituted {
			args = append(args, url)
		}
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		if f, ok := c.stdin.(*os.File); ok {
			cmd.Stdin = f
		}
		out := c.stderr
		if s, ok := out.(*syncWriter); ok {
			out = s.w // the terminal itself, for a text-mode browser
		}
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", args[0], err))
	}
	if len(errs) == 0 {
		return errors.New("BROWSER names no command")
	}
	return errors.Join(errs...)
}
