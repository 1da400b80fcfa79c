package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/bearerhttp/bearer/flow"
)

var loginCommand = &command{
	name:    "login",
	summary: "Sign in: with a code on any device, or --interactive in this computer's browser",
	details: `A user signs in with a device code: bearer shows a code and a web page; open the
page on any device (a phone will do), enter the code and sign in. With --interactive,
bearer opens this computer's browser instead (the redirect comes back to a server on
http://localhost that lives only during the sign-in).

An application signs in with --client-secret-file or --certificate (and --client-id,
--tenant), or with AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET or
AZURE_CLIENT_CERTIFICATE_PATH: bearer gets a token to check the credential and remembers
where it is (the file, never the secret).

The sign-in becomes the one later commands use; its tokens are kept in the token cache.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.interactive, "interactive", false, "sign in in this computer's browser instead of with a device code")
		fs.StringVar(&o.claims, "claims", "", "ask for the claims `JSON` an API's claims challenge named")
		fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "how long to wait for the user to sign in")
		fs.StringVar(&o.redirectURI, "redirect-uri", "http://localhost", "with --interactive, the loopback `URI` the browser comes back to, as registered with the application (a free port is picked)")
	},
	run: runLogin,
}

// defaultAppScope is what an application's sign-in asks for without
// --scope, on Entra: a Microsoft Graph token, which any application can
// get (with or without permissions).
const defaultAppScope = "https://graph.microsoft.com/.default"

func runLogin(c *cli, ctx context.Context, o *options, _ []string) error {
	sess, err := c.open(o, true)
	if err != nil {
		return err
	}
	if sess.s.isApp() {
		return c.loginApp(ctx, sess, o)
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var opts []flow.CallOption
	if o.claims != "" {
		opts = append(opts, flow.Claims(o.claims))
	}
	var r flow.Result
	if o.interactive {
		opts = append(opts, flow.RedirectURI(o.redirectURI), flow.Timeout(o.timeout))
		if o.account != "" {
			opts = append(opts, flow.LoginHint(o.account))
		}
		fmt.Fprintln(c.stderr, "Opening a browser to sign in…")
		r, err = sess.pub.AcquireTokenInteractive(ctx, o.scopes, opts...)
	} else {
		var prog *progress
		r, err = sess.pub.AcquireTokenByDeviceCode(ctx, o.scopes, func(ctx context.Context, dc flow.DeviceCode) error {
			fmt.Fprintln(c.stderr, dc.Message)
			prog = startProgress(c.stderr, isTerminal(c.stderr) && !o.verbose, c.progressEvery, dc.ExpiresOn)
			return nil
		}, opts...)
		if prog != nil {
			prog.finish()
		}
	}
	if err != nil {
		return signInFailed(ctx, err, o.timeout)
	}
	p := profile{Authority: sess.s.authority, OIDC: sess.s.oidc, ClientID: sess.s.clientID,
		HomeAccountID: r.Account.HomeAccountID, Username: r.Account.Username}
	if err := writeProfile(sess.dir, p); err != nil {
		return fmt.Errorf("remembering the sign-in: %w", err)
	}
	fmt.Fprintf(c.stderr, "Signed in as %s.\n", orUnknown(r.Account.Username))
	return nil
}

// signInFailed says why a user's sign-in failed, in a sentence.
func signInFailed(ctx context.Context, err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, flow.ErrDeviceCodeExpired):
		return fmt.Errorf("the code expired before the sign-in was completed: run 'bearer login' again (%w)", err)
	case errors.Is(err, flow.ErrAuthorizationDeclined):
		return fmt.Errorf("the sign-in was declined (%w)", err)
	case errors.Is(err, flow.ErrBadVerificationCode):
		return fmt.Errorf("the authority does not recognise the code: run 'bearer login' again (%w)", err)
	case errors.Is(err, flow.ErrSignInTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return fmt.Errorf("the sign-in was not completed within %v (--timeout)", timeout)
	}
	return fmt.Errorf("sign-in failed: %w", err)
}

// loginApp checks an application's credential with a token and remembers
// where the credential is.
func (c *cli) loginApp(ctx context.Context, sess *session, o *options) error {
	scopes := o.scopes
	if len(scopes) == 0 {
		if sess.s.oidc {
			return usagef("an application's sign-in at an OpenID Connect authority needs --scope")
		}
		scopes = []string{defaultAppScope}
	}
	if _, err := sess.conf.AcquireTokenForClient(ctx, scopes); err != nil {
		return fmt.Errorf("the application's sign-in failed: %w", err)
	}
	p := profile{Authority: sess.s.authority, OIDC: sess.s.oidc, ClientID: sess.s.clientID}
	switch sess.s.cred {
	case credSecretFile, credCertFile:
		abs, err := filepath.Abs(sess.s.credFile)
		if err != nil {
			return err
		}
		if sess.s.cred == credSecretFile {
			p.ClientSecretFile = abs
		} else {
			p.CertificateFile = abs
		}
	default:
		p.FromEnvironment = true
	}
	if err := writeProfile(sess.dir, p); err != nil {
		return fmt.Errorf("remembering the sign-in: %w", err)
	}
	fmt.Fprintf(c.stderr, "Signed in as the application %s (%s).\n", sess.s.clientID, sess.s.authority)
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed user"
	}
	return s
}
