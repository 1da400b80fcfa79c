package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

// cacheName is the token cache file in the configuration directory: an
// MSAL token cache, which MSAL libraries can share.
const cacheName = "cache.json"

// maxCredentialFile bounds a secret or certificate file.
const maxCredentialFile = 1 << 20

// session is what a command works with: its settings, the token cache
// in the configuration directory, and the application (a public client
// for users, a confidential one for an application).
type session struct {
	c     *cli
	s     settings
	dir   string
	last  profile
	store *filestore.Store
	cache *cache.Cache
	pub   *flow.Public
	conf  *flow.Confidential
}

// open resolves the settings of o and makes the session; login starts
// from the flags and the environment only.
func (c *cli) open(o *options, login bool) (*session, error) {
	dir, err := c.configDir()
	if err != nil {
		return nil, err
	}
	last, err := readProfile(dir)
	if err != nil && !login { // login starts afresh and replaces it
		return nil, err
	}
	s, err := resolve(o, c.getenv, last, login)
	if err != nil {
		return nil, err
	}
	store, err := filestore.New(filepath.Join(dir, cacheName), filestore.WithLogger(c.log))
	if err != nil {
		return nil, fmt.Errorf("the token cache: %w", err)
	}
	ch := cache.New(cache.WithStore(store), cache.WithLogger(c.log))
	opts := []flow.Option{
		flow.WithCache(ch),
		flow.WithMetadataStore(store), // discovered endpoints too: a later run asks nothing it knows
		flow.WithLogger(c.log),
		flow.WithAppName("bearer"),
		flow.WithAppVersion(buildVersion()),
		flow.WithBrowser(c.openBrowser),
		// No client capabilities (cp1): a token printed by 'bearer token'
		// goes to programs that cannot answer a claims challenge, so it
		// must not be a long-lived CAE token. The transport of 'bearer
		// get' still answers the challenges an API sends.
	}
	if s.oidc {
		opts = append(opts, flow.WithOIDCAuthority(s.authority))
	} else {
		opts = append(opts, flow.WithAuthority(s.authority))
	}
	sess := &session{c: c, s: s, dir: dir, last: last, store: store, cache: ch}
	if s.isApp() {
		cred, err := c.credential(s)
		if err != nil {
			return nil, err
		}
		if sess.conf, err = flow.NewConfidential(s.clientID, cred, opts...); err != nil {
			return nil, err
		}
	} else if sess.pub, err = flow.NewPublic(s.clientID, opts...); err != nil {
		return nil, err
	}
	c.log.Debug("bearer: settings", slog.String("authority", s.authority), slog.Bool("oidc", s.oidc),
		slog.String("client_id", s.clientID), slog.String("credential", s.cred.String()),
		slog.String("cache", store.Path()), slog.Bool("last_sign_in", s.fromProfile))
	return sess, nil
}

func (k credKind) String() string {
	switch k {
	case credSecretFile:
		return "client secret file"
	case credCertFile:
		return "certificate file"
	case credEnvSecret:
		return "AZURE_CLIENT_SECRET"
	case credEnvCert:
		return "AZURE_CLIENT_CERTIFICATE_PATH"
	}
	return "user"
}

// credential reads an application's credential.
func (c *cli) credential(s settings) (credential.Credential, error) {
	switch s.cred {
	case credEnvSecret:
		return credential.Secret(c.getenv("AZURE_CLIENT_SECRET")), nil
	case credSecretFile:
		b, err := readSmallFile(s.credFile)
		if err != nil {
			return nil, fmt.Errorf("the client secret file: %w", err)
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return nil, fmt.Errorf("the client secret file %s is empty", s.credFile)
		}
		return credential.Secret(secret), nil
	case credCertFile, credEnvCert:
		b, err := readSmallFile(s.credFile)
		if err != nil {
			return nil, fmt.Errorf("the certificate file: %w", err)
		}
		certs, key, err := credential.ParseCertificates(b, c.getenv("AZURE_CLIENT_CERTIFICATE_PASSWORD"))
		if err != nil {
			return nil, fmt.Errorf("the certificate file %s: %w", s.credFile, err)
		}
		var opts []credential.CertificateOption
		if send, _ := strconv.ParseBool(c.getenv("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")); send {
			opts = append(opts, credential.WithX5C())
		}
		return credential.Certificate(certs, key, opts...)
	}
	return nil, errors.New("no application credential")
}

// readSmallFile reads a file of at most maxCredentialFile bytes.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCredentialFile {
		return nil, fmt.Errorf("%s is over %d bytes", path, maxCredentialFile)
	}
	return b, nil
}

// notSignedIn is the error of a command that needs a user and finds none.
func notSignedIn(msg string) error {
	return &signInError{msg: msg + ": run 'bearer login' (or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET to use an application)"}
}

// account finds the account a user command uses: --account's, else the
// last sign-in's, else the only one the cache holds for the application.
func (sess *session) account(ctx context.Context) (flow.Account, error) {
	accts, err := sess.pub.Accounts(ctx, sess.s.username)
	if err != nil {
		return flow.Account{}, err
	}
	accts = uniqueUsers(accts)
	switch {
	case sess.s.username != "":
		if len(accts) == 0 {
			return flow.Account{}, notSignedIn(fmt.Sprintf("%s is not signed in to %s", sess.s.username, sess.s.authority))
		}
		for _, a := range accts {
			if a.HomeAccountID == sess.s.homeAccountID {
				return a, nil
			}
		}
		return accts[0], nil
	case sess.s.homeAccountID != "":
		for _, a := range accts {
			if a.HomeAccountID == sess.s.homeAccountID {
				return a, nil
			}
		}
		return flow.Account{}, notSignedIn("the account of the last sign-in (" + sess.last.Username + ") has no tokens in the cache any more")
	case len(accts) == 1:
		return accts[0], nil
	case len(accts) == 0:
		return flow.Account{}, notSignedIn("not signed in")
	}
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.Username
	}
	return flow.Account{}, usagef("%d accounts are signed in (%s): choose one with --account", len(accts), strings.Join(names, ", "))
}

// uniqueUsers keeps one account per user (a user signed in to several
// tenants has an account in each).
func uniqueUsers(accts []flow.Account) []flow.Account {
	seen := map[string]bool{}
	out := accts[:0:0]
	for _, a := range accts {
		if !seen[a.HomeAccountID] {
			seen[a.HomeAccountID] = true
			out = append(out, a)
		}
	}
	return out
}

// source is the token source of a command: the application's, or the
// signed-in user's.
func (sess *session) source(ctx context.Context) (bearer.TokenSource, error) {
	if sess.conf != nil {
		return sess.conf.ClientSource(), nil
	}
	acct, err := sess.account(ctx)
	if err != nil {
		return nil, err
	}
	return sess.pub.AccountSource(acct), nil
}

// token gets a token for scopes: the application's, or the signed-in
// user's (from the cache, else with the refresh token; never by signing
// in).
func (sess *session) token(ctx context.Context, scopes []string) (flow.Result, error) {
	if sess.conf != nil {
		return sess.conf.AcquireTokenForClient(ctx, scopes)
	}
	acct, err := sess.account(ctx)
	if err != nil {
		return flow.Result{}, err
	}
	r, err := sess.pub.AcquireTokenSilent(ctx, scopes, acct)
	if err != nil {
		return r, err
	}
	if r.Account.IsZero() {
		r.Account = acct
	}
	return r, nil
}
