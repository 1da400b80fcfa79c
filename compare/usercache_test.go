package compare

import (
	"context"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/bearerhttp/bearer/authtest"
	ourcache "github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/flow"
)

// A user signed in by one library is found, and served silently, by the
// other through the MSAL cache document they share: accounts, ID tokens,
// refresh tokens and access tokens written by bearer's user flows are
// MSAL's, and the other way round.

const (
	ucClientID = "22222222-aaaa-4bbb-8ccc-000000000002"
	ucTenant   = "6f7e3a2b-1c4d-4e5f-8a9b-0c1d2e3f4a5b"
)

// docAccessor is an MSAL Go cache accessor over one document in memory.
type docAccessor struct {
	mu  sync.Mutex
	doc []byte
}

func (d *docAccessor) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc == nil {
		return nil
	}
	return u.Unmarshal(d.doc)
}

func (d *docAccessor) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	b, err := m.Marshal()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.doc = b
	return err
}

func TestCompareUserCacheBothWays(t *testing.T) {
	ctx := context.Background()
	scopes := []string{"User.Read"}
	for _, tenant := range []string{ucTenant, "organizations"} {
		t.Run(tenant, func(t *testing.T) {
			srv := authtest.NewTLSServer(t)
			srv.AddClient(authtest.Client{ID: ucClientID, Public: true})
			srv.AddUser(authtest.User{Username: "alice@contoso.com", Password: "alice-PASSWORD", TenantID: ucTenant})
			srv.AddUser(authtest.User{Username: "bob@contoso.com", Password: "bob-PASSWORD", TenantID: ucTenant})
			authority := "https://login.microsoftonline.com/" + tenant

			// bearer signs alice in; MSAL Go reads the document.
			ours := ourcache.New()
			app, err := flow.NewPublic(ucClientID, flow.WithAuthority(authority), flow.WithHTTPClient(srv.Client()), flow.WithCache(ours))
			if err != nil {
				t.Fatal(err)
			}
			r, err := app.AcquireTokenByUsernamePassword(ctx, "alice@contoso.com", "alice-PASSWORD", scopes)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := ours.MarshalMSAL()
			if err != nil {
				t.Fatal(err)
			}
			acc := &docAccessor{doc: doc}
			msal, err := public.New(ucClientID, public.WithAuthority(authority), public.WithHTTPClient(srv.Client()), public.WithCache(acc))
			if err != nil {
				t.Fatal(err)
			}
			accts, err := msal.Accounts(ctx)
			if err != nil || len(accts) != 1 || accts[0].HomeAccountID != r.Account.HomeAccountID || accts[0].PreferredUsername != "alice@contoso.com" {
				t.Fatalf("MSAL Go reads bearer's accounts as %+v, %v", accts, err)
			}
			n := srv.TokenRequests()
			m, err := msal.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accts[0]))
			if err != nil {
				t.Fatalf("MSAL Go's silent call with bearer's account: %v", err)
			}
			// Both cache a sign-in under the authority's tenant (realm),
			// organizations included: MSAL Go finds bearer's token.
			if srv.TokenRequests() != n || m.AccessToken != r.AccessToken {
				t.Errorf("MSAL Go's silent call asked the authority instead of serving bearer's cached token")
			}

			// MSAL Go signs bob in; bearer reads the document.
			if _, err := msal.AcquireTokenByUsernamePassword(ctx, scopes, "bob@contoso.com", "bob-PASSWORD"); err != nil {
				t.Fatal(err)
			}
			back := ourcache.New()
			if err := back.UnmarshalMSAL(acc.doc); err != nil {
				t.Fatal(err)
			}
			app2, err := flow.NewPublic(ucClientID, flow.WithAuthority(authority), flow.WithHTTPClient(srv.Client()), flow.WithCache(back))
			if err != nil {
				t.Fatal(err)
			}
			bobs, err := app2.Accounts(ctx, "bob@contoso.com")
			if err != nil || len(bobs) != 1 {
				t.Fatalf("bearer reads MSAL Go's accounts as %v, %v", bobs, err)
			}
			n = srv.TokenRequests()
			s, err := app2.AcquireTokenSilent(ctx, scopes, bobs[0])
			if err != nil || s.Account.Username != "bob@contoso.com" {
				t.Fatalf("bearer's silent call with MSAL Go's account: %+v %v", s, err)
			}
			if srv.TokenRequests() != n || !s.FromCache {
				t.Errorf("bearer's silent call asked the authority instead of serving MSAL Go's cached token")
			}
			// One account per user: bearer's and MSAL Go's entries are the same.
			all, _ := app2.Accounts(ctx, "")
			if len(all) != 2 {
				t.Errorf("%d accounts in the shared cache, want alice's and bob's: %v", len(all), all)
			}
		})
	}
}
