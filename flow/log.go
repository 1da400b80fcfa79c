package flow

import (
	"context"
	"log/slog"
)

// logger is the package's logging seam: debug records through the
// application's slog.Logger, with personal data only in PII mode.
//
// What may be logged: what was asked (grant, scopes, authority,
// endpoint), cache hits and misses, retries, timings, correlation IDs.
// Never: secrets, tokens, assertions, authorization codes, passwords,
// user assertions. Personal data (usernames, object IDs, users' tenant
// IDs, claims) goes through pii, which drops it unless WithPII(true).
type logger struct {
	l       *slog.Logger
	withPII bool
}

func newLogger(cfg *config) logger {
	return logger{l: cfg.logger, withPII: cfg.pii}
}

// enabled reports whether debug records are wanted, so callers can skip
// building attributes.
func (lg logger) enabled(ctx context.Context) bool {
	return lg.l != nil && lg.l.Enabled(ctx, slog.LevelDebug)
}

// debug logs msg at debug level.
func (lg logger) debug(ctx context.Context, msg string, attrs ...slog.Attr) {
	if !lg.enabled(ctx) {
		return
	}
	lg.l.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// pii returns the attribute key=value in PII mode and an empty attribute,
// which handlers drop, otherwise.
func (lg logger) pii(key string, value any) slog.Attr {
	if !lg.withPII {
		return slog.Attr{}
	}
	return slog.Any(key, value)
}
