package cache

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Partitions group the entries of one identity. Each is read from and
// written to a [Store] as a unit, and evicted as a unit. Their names are the
// partition keys MSAL Go gives its cache accessor:
//
//   - app tokens (client credentials): [AppPartition](clientID, tenant),
//     "<client_id>_<tenant>_AppTokenCache";
//   - on-behalf-of tokens: [AssertionHash] of the user's assertion;
//   - a user's tokens: the home account ID.

// AssertionHash returns the hash under which on-behalf-of tokens for a
// user's assertion are cached: the SHA-256 of the assertion, base64url
// encoded with padding, exactly as MSAL Go computes user_assertion_hash, so
// caches are shared with it. It reveals nothing usable of the assertion.
func AssertionHash(assertion string) string {
	sum := sha256.Sum256([]byte(assertion))
	return base64.URLEncoding.EncodeToString(sum[:])
}

// AppPartition returns the partition of an app's own tokens (client
// credentials) for a tenant: "<clientID>_<tenant>_AppTokenCache", MSAL Go's
// app cache key. tenant may be empty.
func AppPartition(clientID, tenant string) string {
	return clientID + "_" + tenant + "_AppTokenCache"
}

// UserPartition returns the partition of a user's tokens: the home account
// ID itself.
func UserPartition(homeAccountID string) string { return homeAccountID }

// partKind tells the three kinds of partition apart, so that a home account
// ID can never alias an assertion hash or an app partition in memory.
type partKind uint8

const (
	kindApp  partKind = iota + 1 // a = client ID, b = tenant
	kindUser                     // a = home account ID
	kindOBO                      // a = assertion hash
)

// partID identifies a partition without building its name, so lookups of
// app tokens need no string concatenation.
type partID struct {
	kind partKind
	a, b string
}

func partitionOf(assertionHash, homeAccountID, clientID, realm string) partID {
	switch {
	case assertionHash != "":
		return partID{kind: kindOBO, a: assertionHash}
	case homeAccountID != "":
		return partID{kind: kindUser, a: homeAccountID}
	default:
		return partID{kind: kindApp, a: clientID, b: realm}
	}
}

func partitionName(id partID) string {
	if id.kind == kindApp {
		return AppPartition(id.a, id.b)
	}
	return id.a
}

// parsePartitionName is the inverse of partitionName, used for names a
// [PartitionLister] returns.
func parsePartitionName(name string) partID {
	if rest, ok := strings.CutSuffix(name, "_AppTokenCache"); ok {
		if i := strings.LastIndexByte(rest, '_'); i >= 0 {
			return partID{kind: kindApp, a: rest[:i], b: rest[i+1:]}
		}
	}
	if looksLikeAssertionHash(name) {
		return partID{kind: kindOBO, a: name}
	}
	return partID{kind: kindUser, a: name}
}

func looksLikeAssertionHash(s string) bool {
	if len(s) != 44 || s[43] != '=' {
		return false
	}
	for i := 0; i < 43; i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
