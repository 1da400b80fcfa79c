package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"time"
)

var tokenCommand = &command{
	name:    "token",
	summary: "Print an access token for --scope",
	details: `The token comes from the token cache when a usable one is there, else from the
authority with the signed-in user's refresh token (or the application's credential);
a user is never asked to sign in by this command. It prints the token alone, for
$(bearer token --scope …); with --json, an object with accessToken, tokenType,
expiresOn (RFC 3339), expires_on (Unix seconds), scopes, tenant and account.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.jsonOut, "json", false, "print a JSON object with the token, its expiry and scopes")
	},
	run: runToken,
}

// tokenJSON is what token --json prints: Azure CLI's get-access-token
// names, and the scopes and account.
type tokenJSON struct {
	AccessToken string   `json:"accessToken"`
	TokenType   string   `json:"tokenType"`
	ExpiresOn   string   `json:"expiresOn"`
	ExpiresOnTS int64    `json:"expires_on"`
	Scopes      []string `json:"scopes"`
	Tenant      string   `json:"tenant,omitempty"`
	Account     string   `json:"account,omitempty"`
}

func runToken(c *cli, ctx context.Context, o *options, _ []string) error {
	if len(o.scopes) == 0 {
		return usagef("token needs --scope, such as --scope https://graph.microsoft.com/.default")
	}
	sess, err := c.open(o, false)
	if err != nil {
		return err
	}
	r, err := sess.token(ctx, o.scopes)
	if err != nil {
		return err
	}
	c.log.Debug("bearer: token", slog.Bool("from_cache", r.FromCache), slog.Time("expires_on", r.ExpiresOn), slog.Any("scopes", r.Scopes))
	if !o.jsonOut {
		_, err := fmt.Fprintln(c.stdout, r.AccessToken)
		return err
	}
	out := tokenJSON{
		AccessToken: r.AccessToken, TokenType: r.TokenType, Scopes: r.Scopes,
		ExpiresOn: r.ExpiresOn.Format(time.RFC3339), ExpiresOnTS: r.ExpiresOn.Unix(),
		Tenant: r.Account.TenantID, Account: r.Account.Username,
	}
	if out.TokenType == "" {
		out.TokenType = "Bearer"
	}
	if tid, ok := r.IDTokenClaims["tid"].(string); ok && tid != "" {
		out.Tenant = tid
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
