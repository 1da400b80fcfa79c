package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bearerhttp/bearer/flow"
)

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1   // anything else: the network, the authority, the cache, a file
	exitUsage       = 2   // a bad command line
	exitSignIn      = 3   // no signed-in account, or the user must sign in again
	exitHTTP4xx     = 4   // the API answered 4xx
	exitHTTP5xx     = 5   // the API answered 5xx
	exitInterrupted = 130 // Ctrl-C
)

// cli is one run of the program: its streams and environment, and the
// seams tests replace.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// browser opens the authorization URL of an interactive sign-in; nil
	// means $BROWSER, then flow.OpenBrowser.
	browser func(ctx context.Context, url string) error
	// progressEvery is how often the device code progress is redrawn:
	// a spinner step on a terminal, a line otherwise (zero: the defaults).
	progressEvery time.Duration
	log           *slog.Logger
}

// run is the program: it runs the command args name and returns the exit
// status. Tests call it as main does, with their own streams and
// environment.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return c.main(ctx, args)
}

// command is one of bearer's commands.
type command struct {
	name    string
	args    string // what follows the flags in the usage line
	summary string
	details string
	flags   func(fs *flag.FlagSet, o *options)
	run     func(c *cli, ctx context.Context, o *options, args []string) error
	nargs   int // positional arguments it takes
}

var commands []*command

func init() {
	commands = []*command{loginCommand, tokenCommand}
	for _, m := range []string{"get", "post", "put", "patch", "delete"} {
		commands = append(commands, callCommand(m))
	}
	commands = append(commands, accountsCommand, logoutCommand)
}

func findCommand(name string) *command {
	for _, cmd := range commands {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// signInError says the user must sign in (again): exit status 3.
type signInError struct {
	msg string
	err error
}

func (e *signInError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *signInError) Unwrap() error { return e.err }

// statusError is an API's HTTP error status: exit status 4 or 5.
type statusError struct {
	method, url string
	status      int
	statusText  string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: the API answered %s", e.method, e.url, e.statusText)
}

// main runs args and turns the outcome into an exit status and a message.
func (c *cli) main(ctx context.Context, args []string) int {
	c.stderr = &syncWriter{w: c.stderr}
	err := c.dispatch(ctx, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	var se *signInError
	var he *statusError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "bearer: %s\nRun 'bearer --help' for usage.\n", ue.msg)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(c.stderr, "bearer: interrupted")
		return exitInterrupted
	case errors.As(err, &he):
		fmt.Fprintf(c.stderr, "bearer: %s\n", he)
		if he.status >= 500 {
			return exitHTTP5xx
		}
		return exitHTTP4xx
	case errors.As(err, &se):
		fmt.Fprintf(c.stderr, "bearer: %s\n", se)
		return exitSignIn
	case errors.Is(err, flow.ErrInteractionRequired):
		fmt.Fprintf(c.stderr, "bearer: %s\n%s", err, signInHint(err))
		return exitSignIn
	}
	fmt.Fprintf(c.stderr, "bearer: %s\n", err)
	return exitError
}

// signInHint tells how to sign in again after err, which matches
// flow.ErrInteractionRequired: with the claims the authority asks for.
func signInHint(err error) string {
	var ie *flow.InteractionError
	if errors.As(err, &ie) && ie.Claims != "" {
		return fmt.Sprintf("Sign in again with the claims the API asks for:\n    bearer login --claims '%s'\n", strings.ReplaceAll(ie.Claims, "'", `'\''`))
	}
	return "Sign in again: bearer login\n"
}

// dispatch parses the command line and runs the command.
func (c *cli) dispatch(ctx context.Context, args []string) error {
	var o options
	top := flag.NewFlagSet("bearer", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	o.common(top)
	version := top.Bool("version", false, "print the version")
	top.Usage = func() {}
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(c.stdout)
			return err
		}
		return usagef("%v", err)
	}
	if *version {
		fmt.Fprintln(c.stdout, "bearer", buildVersion())
		return nil
	}
	rest := top.Args()
	if len(rest) == 0 {
		c.shortUsage(c.stderr)
		return usagef("no command given")
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			if cmd := findCommand(rest[1]); cmd != nil {
				c.commandUsage(c.stdout, cmd)
				return nil
			}
			return usagef("unknown command %q", rest[1])
		}
		c.usage(c.stdout)
		return nil
	}
	cmd := findCommand(name)
	if cmd == nil {
		return usagef("unknown command %q", name)
	}
	fs := flag.NewFlagSet("bearer "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	o.common(fs)
	if cmd.flags != nil {
		cmd.flags(fs, &o)
	}
	pos, err := parseInterleaved(fs, rest[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.commandUsage(c.stdout, cmd)
			return err
		}
		return usagef("%s: %v", cmd.name, err)
	}
	o.given = map[string]bool{}
	top.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	if len(pos) != cmd.nargs {
		if cmd.nargs == 0 {
			return usagef("%s takes no arguments (got %q)", cmd.name, strings.Join(pos, " "))
		}
		return usagef("usage: bearer %s [flags] %s", cmd.name, cmd.args)
	}
	c.setLogger(o.verbose)
	return cmd.run(c, ctx, &o, pos)
}

// parseInterleaved parses flags placed anywhere among the arguments
// (bearer get URL --data @f), returning the arguments that are not flags;
// everything after "--" is an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// setLogger makes the logger of the run: debug records with --verbose,
// else only warnings (such as a cache file others could read), to
// standard error. Nothing logged holds a secret (see package flow).
func (c *cli) setLogger(verbose bool) {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	c.log = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

const usageText = `bearer signs you in to Microsoft Entra ID (or any OpenID Connect authority),
prints access tokens and calls APIs with them.

Usage:
  bearer <command> [flags] [arguments]

Commands:
{{commands}}
Examples:
  bearer login                                        # sign in with a code, on any device
  bearer login --interactive                          # sign in in this computer's browser
  bearer get https://graph.microsoft.com/v1.0/me
  bearer post https://graph.microsoft.com/v1.0/me/sendMail --data @mail.json
  bearer token --scope https://management.azure.com/.default
  curl -H "Authorization: Bearer $(bearer token --scope https://graph.microsoft.com/.default)" …

  # An application (service principal) instead of a user, without login:
  export AZURE_CLIENT_ID=… AZURE_TENANT_ID=… AZURE_CLIENT_SECRET=…
  bearer get https://graph.microsoft.com/v1.0/users

Flags of every command:
{{flags}}
Which sign-in a command uses: the flags; else an application configured
by the AZURE_* variables; else the last 'bearer login' (its authority,
client and account); else the defaults. 'bearer login' starts from its
flags, the environment and the defaults only.

Environment:
  AZURE_CLIENT_ID                     the application (client) ID
  AZURE_TENANT_ID                     the tenant
  AZURE_CLIENT_SECRET                 sign in as the application with this secret
  AZURE_CLIENT_CERTIFICATE_PATH       ... or with this certificate and key (PEM or PKCS#12)
  AZURE_CLIENT_CERTIFICATE_PASSWORD   the PKCS#12 file's password
  AZURE_AUTHORITY_HOST                the authority host (default https://login.microsoftonline.com)
  BEARER_CONFIG_DIR                   where the token cache and the last sign-in are kept
                                      (default: the user's configuration directory + /bearer)
  BROWSER                             the browser 'login --interactive' opens (else xdg-open,
                                      open or rundll32); %s in it stands for the URL

Exit status:
  0  success
  1  an error (the network, the authority, the cache, a file)
  2  a bad command line
  3  not signed in, or the user must sign in again
  4  the API answered with a 4xx status
  5  the API answered with a 5xx status
  130  interrupted

Run 'bearer <command> --help' for a command's own flags.
`

// usage writes the program's help.
func (c *cli) usage(w io.Writer) {
	var cmds strings.Builder
	for _, cmd := range commands {
		fmt.Fprintf(&cmds, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fs := flag.NewFlagSet("bearer", flag.ContinueOnError)
	var o options
	o.common(fs)
	text := strings.Replace(usageText, "{{commands}}", cmds.String(), 1)
	text = strings.Replace(text, "{{flags}}", flagDefaults(fs, nil), 1)
	fmt.Fprint(w, text)
}

// shortUsage writes the usage line and the commands.
func (c *cli) shortUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: bearer <command> [flags] [arguments]\n\nCommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w)
}

// commandUsage writes a command's help.
func (c *cli) commandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "Usage: bearer %s [flags] %s\n\n%s\n", cmd.name, cmd.args, cmd.summary+".")
	if cmd.details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(cmd.details, "\n"))
	}
	if cmd.flags != nil {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		var o options
		cmd.flags(fs, &o)
		fmt.Fprintf(w, "\nFlags:\n%s", flagDefaults(fs, nil))
	}
	fs := flag.NewFlagSet("bearer", flag.ContinueOnError)
	var o options
	o.common(fs)
	fmt.Fprintf(w, "\nFlags of every command:\n%s", flagDefaults(fs, nil))
}

// flagDefaults lists fs's flags GNU style (--name value), as a good Go
// command-line tool's help does.
func flagDefaults(fs *flag.FlagSet, skip map[string]bool) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] || f.Name == "version" {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		dashes := "--"
		if len(f.Name) == 1 {
			dashes = "-"
		}
		head := "  " + dashes + f.Name
		if name != "" {
			head += " " + name
		}
		if alias := aliasOf(fs, f); alias != "" {
			head = "  -" + alias + ", " + strings.TrimPrefix(head, "  ")
		}
		if isAlias(f) {
			return
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0s" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		lines := wrap(usage, helpWidth-helpIndent)
		if len(head) <= helpIndent-2 {
			fmt.Fprintf(&b, "%-*s%s", helpIndent, head, lines[0])
		} else {
			fmt.Fprintf(&b, "%s\n%*s%s", head, helpIndent, "", lines[0])
		}
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "\n%*s%s", helpIndent, "", l)
		}
		b.WriteByte('\n')
	})
	return b.String()
}

// The help's layout: flag descriptions start at helpIndent and wrap
// before helpWidth.
const (
	helpIndent = 30
	helpWidth  = 80
)

// wrap splits text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

// Short aliases: the flag's usage is "alias of --long".
const aliasPrefix = "alias of --"

func isAlias(f *flag.Flag) bool { return strings.HasPrefix(f.Usage, aliasPrefix) }

// aliasOf returns the one-letter alias of f, if fs has one.
func aliasOf(fs *flag.FlagSet, f *flag.Flag) string {
	alias := ""
	fs.VisitAll(func(g *flag.Flag) {
		if len(g.Name) == 1 && g.Usage == aliasPrefix+f.Name {
			alias = g.Name
		}
	})
	return alias
}

// configDir is where bearer keeps its files: $BEARER_CONFIG_DIR, else the
// user's configuration directory + /bearer.
func (c *cli) configDir() (string, error) {
	if d := c.getenv("BEARER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	d, err := userConfigDir(c.getenv)
	if err != nil {
		return "", fmt.Errorf("no configuration directory for the token cache (set BEARER_CONFIG_DIR): %w", err)
	}
	return d + string(os.PathSeparator) + "bearer", nil
}
