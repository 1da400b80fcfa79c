package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
)

var accountsCommand = &command{
	name:    "accounts",
	summary: "List the accounts signed in to the application",
	details: `Lists the users whose tokens the cache holds for the application (--client-id) at
the authority's host, one per line; * marks the one commands use by default (the last
sign-in). --json prints them as a JSON array.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.jsonOut, "json", false, "print a JSON array")
	},
	run: runAccounts,
}

var logoutCommand = &command{
	name:    "logout",
	summary: "Sign out: remove the account's tokens from the cache",
	details: `Removes the signed-in user's tokens (the last sign-in's, or --account's) from the
token cache, or the application's tokens after an application's sign-in. With --all,
removes every token of every account and application, and forgets the last sign-in.
The authority's own session in the browser is not ended.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.all, "all", false, "remove every token the cache holds")
	},
	run: runLogout,
}

// accountJSON is an account as accounts --json prints it.
type accountJSON struct {
	Username      string `json:"username"`
	HomeAccountID string `json:"homeAccountId"`
	TenantID      string `json:"tenantId"`
	Environment   string `json:"environment"`
	Current       bool   `json:"current"`
}

func runAccounts(c *cli, ctx context.Context, o *options, _ []string) error {
	sess, err := c.open(o, false)
	if err != nil {
		return err
	}
	if sess.conf != nil {
		fmt.Fprintf(c.stdout, "application %s (%s)\n", sess.s.clientID, sess.s.authority)
		return nil
	}
	accts, err := sess.pub.Accounts(ctx, o.account)
	if err != nil {
		return err
	}
	current := sess.s.homeAccountID
	if o.jsonOut {
		out := make([]accountJSON, 0, len(accts))
		for _, a := range accts {
			out = append(out, accountJSON{a.Username, a.HomeAccountID, a.TenantID, a.Environment, a.HomeAccountID == current})
		}
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(accts) == 0 {
		fmt.Fprintf(c.stderr, "No account is signed in to %s at %s.\n", sess.s.clientID, hostOf(sess.s.authority))
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, a := range accts {
		mark := " "
		if a.HomeAccountID == current {
			mark = "*"
		}
		fmt.Fprintf(tw, "%s %s\ttenant %s\t%s\n", mark, orUnknown(a.Username), a.TenantID, a.Environment)
	}
	return tw.Flush()
}

func hostOf(authority string) string {
	if rest, ok := strings.CutPrefix(authority, "https://"); ok {
		authority = rest
	}
	host, _, _ := strings.Cut(authority, "/")
	return host
}

func runLogout(c *cli, ctx context.Context, o *options, _ []string) error {
	if o.all {
		return c.logoutAll(ctx)
	}
	sess, err := c.open(o, false)
	if err != nil {
		return err
	}
	if sess.conf != nil {
		if err := sess.removeAppTokens(ctx); err != nil {
			return err
		}
		if sess.last.ClientID == sess.s.clientID {
			if err := forgetProfile(sess.dir); err != nil {
				return err
			}
		}
		fmt.Fprintf(c.stderr, "Signed out the application %s.\n", sess.s.clientID)
		return nil
	}
	acct, err := sess.account(ctx)
	if err != nil {
		return err
	}
	// Every tenant's account of the user goes.
	accts, err := sess.pub.Accounts(ctx, "")
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.HomeAccountID != acct.HomeAccountID {
			continue
		}
		if err := sess.pub.RemoveAccount(ctx, a); err != nil {
			return fmt.Errorf("removing %s's tokens: %w", orUnknown(acct.Username), err)
		}
	}
	if sess.last.HomeAccountID == acct.HomeAccountID {
		// Keep the authority and client: the other accounts stay usable.
		p := sess.last
		p.HomeAccountID, p.Username = "", ""
		if err := writeProfile(sess.dir, p); err != nil {
			return fmt.Errorf("forgetting the last sign-in's account: %w", err)
		}
	}
	fmt.Fprintf(c.stderr, "Signed out %s.\n", orUnknown(acct.Username))
	return nil
}

// removeAppTokens removes the application's tokens from the cache file:
// its partitions in every tenant.
func (sess *session) removeAppTokens(ctx context.Context) error {
	parts, err := sess.store.Partitions(ctx)
	if err != nil {
		return err
	}
	prefix := sess.s.clientID + "_"
	for _, p := range parts {
		if strings.HasPrefix(p, prefix) && strings.HasSuffix(p, "_AppTokenCache") {
			if err := emptyPartition(ctx, sess.store, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// logoutAll empties the token cache file and forgets the last sign-in.
func (c *cli) logoutAll(ctx context.Context) error {
	dir, err := c.configDir()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, cacheName)
	if _, err := os.Stat(path); err == nil {
		store, err := filestore.New(path, filestore.WithLogger(c.log))
		if err != nil {
			return fmt.Errorf("the token cache: %w", err)
		}
		parts, err := store.Partitions(ctx)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := emptyPartition(ctx, store, p); err != nil {
				return err
			}
		}
	}
	if err := forgetProfile(dir); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "Signed out of every account and application; the token cache is empty.")
	return nil
}

// emptyPartition removes every entry of partition p from the store.
func emptyPartition(ctx context.Context, s cache.Store, p string) error {
	if err := s.Update(ctx, p, func([]byte) ([]byte, error) { return []byte("{}"), nil }); err != nil {
		return fmt.Errorf("emptying the token cache: %w", err)
	}
	return nil
}

// forgetProfile removes the last sign-in.
func forgetProfile(dir string) error {
	err := os.Remove(filepath.Join(dir, profileName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("forgetting the last sign-in: %w", err)
	}
	return nil
}
