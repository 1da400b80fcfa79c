package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/bearerhttp/bearer/authtest"
	ourcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/flow"
)

// A web API calling Microsoft Graph on behalf of its callers caches one
// token per caller's assertion. Callers come and go; the cache should not
// keep them all.

const (
	middleTierAudience = "api://compare-middle-tier"
	middleTierScope    = middleTierAudience + "/access"
)

var oboScopes = []string{"User.Read"}

// watchMSAL is an MSAL Go cache accessor that persists nothing and keeps
// the in-memory cache MSAL Go last handed it, so a test can count what
// that cache holds.
type watchMSAL struct {
	mu   sync.Mutex
	last cache.Unmarshaler
}

// Replace implements cache.ExportReplace: it loads nothing.
func (w *watchMSAL) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	w.mu.Lock()
	w.last = u
	w.mu.Unlock()
	return nil
}

// Export implements cache.ExportReplace: it stores nothing.
func (w *watchMSAL) Export(context.Context, cache.Marshaler, cache.ExportHints) error { return nil }

// entries counts the access tokens and all the entries (access, refresh
// and ID tokens, accounts) of the on-behalf-of cache MSAL Go last handed
// to Replace.
func (w *watchMSAL) entries(tb testing.TB) (accessTokens, all int) {
	tb.Helper()
	w.mu.Lock()
	m, ok := w.last.(cache.Marshaler)
	w.mu.Unlock()
	if !ok {
		tb.Fatalf("MSAL Go's cache %T cannot be marshalled", w.last)
	}
	data, err := m.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	// The on-behalf-of cache (storage.PartitionedManager) marshals as
	// section → partition → key → entry.
	var doc struct {
		AccessTokensPartition, RefreshTokensPartition, IDTokensPartition, AccountsPartition map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatal(err)
	}
	count := func(sec map[string]map[string]json.RawMessage) int {
		n := 0
		for _, p := range sec {
			n += len(p)
		}
		return n
	}
	accessTokens = count(doc.AccessTokensPartition)
	all = accessTokens + count(doc.RefreshTokensPartition) + count(doc.IDTokensPartition) + count(doc.AccountsPartition)
	return accessTokens, all
}

// newOBOAuthority is authtest with the middle tier registered as an API
// whose application is lookupClientID.
func newOBOAuthority(tb testing.TB) *authtest.Server {
	tb.Helper()
	srv := newAuthority(tb)
	srv.AddAPI(authtest.API{Audience: middleTierAudience, AppID: lookupClientID, Scopes: []string{"access"}})
	return srv
}

// assertions are n distinct callers' tokens for the middle tier.
func assertions(srv *authtest.Server, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = srv.IssueAccessToken(authtest.AccessTokenSpec{
			Audience: middleTierAudience, Scopes: []string{"access"}, Subject: fmt.Sprintf("caller-%d", i),
		})
	}
	return out
}

// TestCompareOBOCacheGrowth: a middle tier serves n distinct callers once
// each, getting a Graph token on behalf of each. MSAL Go's cache keeps
// every caller's tokens (it has no eviction); bearer's stays within its
// cap, least recently used callers first.
func TestCompareOBOCacheGrowth(t *testing.T) {
	const n, limit = 100, 80 // callers; bearer's cache cap in entries
	srv := newOBOAuthority(t)
	callers := assertions(srv, n)
	authority := srv.Authority(authtest.DefaultTenant)
	ctx := context.Background()

	t.Run("MSAL Go keeps every caller", func(t *testing.T) {
		w := &watchMSAL{}
		app := newMSAL(t, authority, srv.Client(), confidential.WithCache(w))
		for i, a := range callers {
			if _, err := app.AcquireTokenOnBehalfOf(ctx, a, oboScopes); err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		ats, all := w.entries(t)
		if ats != n {
			t.Errorf("MSAL Go holds %d access tokens after %d callers, want %d", ats, n, n)
		}
		t.Logf("MSAL Go after %d callers: %d access tokens, %d entries", n, ats, all)
	})

	t.Run("bearer stays at its cap", func(t *testing.T) {
		c := ourcache.New(ourcache.WithMaxEntries(limit))
		app := newBearer(t, authority, srv.Client(), flow.WithCache(c))
		for i, a := range callers {
			if _, err := app.AcquireTokenOnBehalfOf(ctx, a, oboScopes); err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
		st := c.Stats()
		if st.Entries > limit || st.Entries == 0 {
			t.Errorf("bearer's cache holds %d entries after %d callers, want 1 to %d", st.Entries, n, limit)
		}
		// The newest caller is still served from the cache.
		srv.ResetRequests()
		res, err := app.AcquireTokenOnBehalfOf(ctx, callers[n-1], oboScopes)
		if err != nil || !res.FromCache {
			t.Errorf("newest caller: FromCache %v, %v; want a cache hit", res.FromCache, err)
		}
		t.Logf("bearer after %d callers: %+v", n, st)
	})
}
