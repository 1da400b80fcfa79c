package compare

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/bearerhttp/bearer/authtest"
	bcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/flow"
)

// fileAccessor is an MSAL Go cache accessor over bearer's file store, as
// an MSAL Go user would write one to share the file: MSAL Go's partition
// key names the store's partition (they are the same names).
type fileAccessor struct{ s *filestore.Store }

// Replace implements cache.ExportReplace: the partition's entries.
func (a fileAccessor) Replace(ctx context.Context, u cache.Unmarshaler, h cache.ReplaceHints) error {
	data, err := a.s.Load(ctx, h.PartitionKey)
	if err != nil || data == nil {
		return err
	}
	return u.Unmarshal(data)
}

// Export implements cache.ExportReplace: what MSAL Go holds replaces the
// partition's entries (the store keeps the file's others).
func (a fileAccessor) Export(ctx context.Context, m cache.Marshaler, h cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	return a.s.Update(ctx, h.PartitionKey, func([]byte) ([]byte, error) { return data, nil })
}

// TestCompareFileStoreSharedWithMSALGo shares one cache file between MSAL
// Go (through an accessor over the file store) and bearer: each serves
// the app token the other acquired, with no second token request, and the
// file keeps both tenants' tokens.
func TestCompareFileStoreSharedWithMSALGo(t *testing.T) {
	ctx := context.Background()
	srv := newAuthority(t)
	path := filepath.Join(t.TempDir(), "msal.cache.json")
	store := func() *filestore.Store {
		s, err := filestore.New(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tenantA, tenantB := lookupTenant(1), lookupTenant(2)
	authority := "https://" + lookupHost + "/" + tenantA
	ours := newBearer(t, authority, srv.Client(), flow.WithCache(bcache.New(bcache.WithStore(store()))))
	msal := newMSAL(t, authority, srv.Client(), confidential.WithCache(fileAccessor{store()}))

	// bearer acquires tenant A's token; MSAL Go finds it in the file.
	r, err := ours.AcquireTokenForClient(ctx, graphScopes)
	if err != nil {
		t.Fatal(err)
	}
	// AcquireTokenByCredential serves from the cache when it can.
	m, err := msal.AcquireTokenByCredential(ctx, graphScopes)
	if err != nil {
		t.Fatalf("MSAL Go over bearer's file: %v", err)
	}
	if m.AccessToken != r.AccessToken || m.Metadata.TokenSource != confidential.TokenSourceCache {
		t.Errorf("MSAL Go did not serve the token bearer stored from the cache (token source %d)", m.Metadata.TokenSource)
	}

	// MSAL Go acquires tenant B's token; a restarted bearer finds it.
	mb, err := msal.AcquireTokenByCredential(ctx, graphScopes, confidential.WithTenantID(tenantB))
	if err != nil {
		t.Fatal(err)
	}
	restarted := newBearer(t, authority, srv.Client(), flow.WithCache(bcache.New(bcache.WithStore(store()))))
	rb, err := restarted.AcquireTokenForClient(ctx, graphScopes, flow.Tenant(tenantB))
	if err != nil {
		t.Fatal(err)
	}
	if !rb.FromCache || rb.AccessToken != mb.AccessToken {
		t.Errorf("bearer did not serve the token MSAL Go stored (from cache %v)", rb.FromCache)
	}
	ra, err := restarted.AcquireTokenForClient(ctx, graphScopes)
	if err != nil || !ra.FromCache || ra.AccessToken != r.AccessToken {
		t.Errorf("tenant A's token after MSAL Go's write: from cache %v, same %v, %v", ra.FromCache, ra.AccessToken == r.AccessToken, err)
	}
	if n := len(srv.RequestsTo(authtest.EndpointToken)); n != 2 {
		t.Errorf("%d token requests, want 2 (one per tenant)", n)
	}
	names, err := store().Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 {
		t.Errorf("the file holds partitions %q, want both tenants'", names)
	}
}
