package cache

import (
	"strings"
	"time"
)

// oidcScope reports whether s is one of the scopes MSAL adds to every user
// request (openid, offline_access, profile). MSAL never lets them decide a
// cache match: the authority may or may not echo them in the granted scopes.
func oidcScope(s string, fold bool) bool {
	var oidc string
	switch len(s) {
	case len("openid"):
		oidc = "openid"
	case len("profile"):
		oidc = "profile"
	case len("offline_access"):
		oidc = "offline_access"
	default:
		return false
	}
	return s == oidc || (fold && strings.EqualFold(s, oidc))
}

// scopesCovered reports whether the cached scopes (have) include every scope
// asked for (want), comparing case-insensitively when fold is set (Entra's
// rule; scopes of different byte lengths never match, which holds for the
// ASCII scopes authorities use) and exactly otherwise (RFC 6749). openid, offline_access and profile
// in want are ignored, unless want holds nothing else. A want with no
// scope at all is covered by nothing, so an empty request never picks an
// arbitrary token. It allocates nothing.
func scopesCovered(have []string, want []string, fold bool) bool {
	onlyOIDC := true
	for _, w := range want {
		if w != "" && !oidcScope(w, fold) {
			onlyOIDC = false
			break
		}
	}
	asked := 0
	for _, w := range want {
		if w == "" || (!onlyOIDC && oidcScope(w, fold)) {
			continue
		}
		if !containsScope(have, w, fold) {
			return false
		}
		asked++
	}
	return asked > 0
}

func containsScope(have []string, w string, fold bool) bool {
	for _, h := range have {
		if len(h) == len(w) && (h == w || (fold && strings.EqualFold(h, w))) {
			return true
		}
	}
	return false
}

// scopesIntersect reports whether a and b share a scope (case-insensitively):
// MSAL's rule for which cached access tokens a new one replaces.
func scopesIntersect(a, b []string) bool {
	for _, s := range a {
		if containsScope(b, s, true) {
			return true
		}
	}
	return false
}

// splitScopes splits a target at spaces. The parts share the target's
// memory.
func splitScopes(target string) []string {
	if target == "" {
		return nil
	}
	return strings.Fields(target)
}

// maxMargin is the most of a token's life that is never served.
const maxMargin = 5 * time.Minute

// usableAt implements the serving rule on Unix seconds: the token is not
// served in the last min(5 min, lifetime/10) of its life.
func usableAt(cachedAt, expiresOn int64, now time.Time) bool {
	if expiresOn <= 0 || expiresOn > maxUnix {
		return false
	}
	margin := maxMargin
	if cachedAt > 0 && expiresOn > cachedAt {
		if lifetime := time.Duration(expiresOn-cachedAt) * time.Second; lifetime/10 < margin {
			margin = lifetime / 10
		}
	}
	return now.UnixNano() < expiresOn*int64(time.Second)-int64(margin)
}
