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
	return s == oidc || (fold && equalFold(s, oidc))
}

// equalFold is strings.EqualFold for strings of equal length, with a fast
// path for ASCII.
func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|y >= 0x80 {
			return strings.EqualFold(a, b)
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// targetCovers reports whether a cached target (scopes separated by
// spaces) includes every scope asked for (want), comparing case-insensitively when fold is set (Entra's
// rule; scopes of different byte lengths never match, which holds for the
// ASCII scopes authorities use) and exactly otherwise (RFC 6749). openid, offline_access and profile
// in want are ignored, unless want holds nothing else. A want with no
// scope at all is covered by nothing, so an empty request never picks an
// arbitrary token. It allocates nothing.
func targetCovers(target string, want []string, fold bool) bool {
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
		if !targetContains(target, w, fold) {
			return false
		}
		asked++
	}
	return asked > 0
}

// targetContains reports whether target holds scope w. It reads target in
// place, allocating nothing.
func targetContains(target, w string, fold bool) bool {
	for target != "" {
		var h string
		h, target = nextScope(target)
		if len(h) == len(w) && (h == w || (fold && equalFold(h, w))) {
			return true
		}
	}
	return false
}

// nextScope returns the first scope of target and the rest.
func nextScope(target string) (scope, rest string) {
	i := 0
	for i < len(target) && target[i] == ' ' {
		i++
	}
	target = target[i:]
	j := strings.IndexByte(target, ' ')
	if j < 0 {
		return target, ""
	}
	return target[:j], target[j+1:]
}

// targetsIntersect reports whether targets a and b share a scope
// (case-insensitively): MSAL's rule for which cached access tokens a new
// one replaces.
func targetsIntersect(a, b string) bool {
	for a != "" {
		var s string
		s, a = nextScope(a)
		if s != "" && targetContains(b, s, true) {
			return true
		}
	}
	return false
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
