package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countingStore wraps a Store and counts calls.
type countingStore struct {
	Store
	loads, updates, fnRuns atomic.Int64
}

func (s *countingStore) Load(ctx context.Context, p string) ([]byte, error) {
	s.loads.Add(1)
	return s.Store.Load(ctx, p)
}

func (s *countingStore) Update(ctx context.Context, p string, fn func([]byte) ([]byte, error)) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, p, func(old []byte) ([]byte, error) {
		s.fnRuns.Add(1)
		return fn(old)
	})
}

// failingStore fails every call.
type failingStore struct{ err error }

func (s failingStore) Load(context.Context, string) ([]byte, error) { return nil, s.err }
func (s failingStore) Update(context.Context, string, func([]byte) ([]byte, error)) error {
	return s.err
}

func userResponse(home, secret string, scopes ...string) Response {
	return Response{
		Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: home,
		Scopes: scopes, AccessToken: secret, ExpiresOn: t0.Add(time.Hour),
		RefreshToken: "rt-" + secret, IDToken: "idt-" + secret,
		Account: &Account{Username: home + "@contoso.com", LocalAccountID: "oid-" + home},
	}
}

func userQuery(home string, scopes ...string) AccessTokenQuery {
	return AccessTokenQuery{Environment: "login.windows.net", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: home, Scopes: scopes, CaseInsensitiveScopes: true}
}

func TestStore_writeThroughThenReadThrough(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: NewMemoryStore()}
	a := New(WithStore(store))
	mustStore(t, a, userResponse("uid.utid", "at1", "User.Read"), t0)
	mustStore(t, a, appResponse("my_client_id", "contoso", "app", "https://graph.microsoft.com/.default"), t0)
	if n := store.updates.Load(); n != 2 {
		t.Errorf("Update calls = %d, want one per response", n)
	}

	// What is stored is MSAL JSON, by partition, keyed as MSAL Go keys it.
	data, err := store.Load(ctx, "uid.utid")
	if err != nil {
		t.Fatal(err)
	}
	doc := parseJSON(t, data).(map[string]any)
	wantKeys := map[string]string{
		"AccessToken":  "uid.utid-login.microsoftonline.com-accesstoken-my_client_id-contoso-user.read",
		"RefreshToken": "uid.utid-login.microsoftonline.com-refreshtoken-my_client_id",
		"IdToken":      "uid.utid-login.microsoftonline.com-idtoken-my_client_id-contoso",
		"Account":      "uid.utid-login.microsoftonline.com-contoso",
		"AppMetadata":  "appmetadata-login.microsoftonline.com-my_client_id",
	}
	for section, key := range wantKeys {
		entries, _ := doc[section].(map[string]any)
		if len(entries) != 1 || entries[key] == nil {
			t.Errorf("stored %s = %v, want one entry keyed %q", section, entries, key)
		}
	}
	at := doc["AccessToken"].(map[string]any)[wantKeys["AccessToken"]].(map[string]any)
	if at["cached_at"] != "1700000000" || at["expires_on"] != "1700003600" || at["token_type"] != "Bearer" || at["secret"] != "at1" {
		t.Errorf("stored access token = %v", at)
	}
	// An app token says "home_account_id": null, which MSAL Python looks
	// app tokens up by.
	if app, _ := store.Load(ctx, "my_client_id_contoso_AppTokenCache"); !bytes.Contains(app, []byte(`"secret":"app"`)) ||
		!bytes.Contains(app, []byte(`"home_account_id":null`)) {
		t.Errorf("app partition = %s", app)
	}

	// Another cache (another process) reads it through, once per partition.
	b := New(WithStore(store))
	got, ok := b.AccessToken(ctx, userQuery("uid.utid", "user.read"), t0)
	if !ok || got.Secret != "at1" {
		t.Fatalf("read-through = %q, %v", got.Secret, ok)
	}
	loads := store.loads.Load()
	if _, ok := b.AccessToken(ctx, userQuery("uid.utid", "Mail.Read"), t0); ok {
		t.Error("found a scope never granted")
	}
	if rt, ok := b.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.microsoftonline.com", ClientID: "my_client_id", HomeAccountID: "uid.utid"}); !ok || rt.Secret != "rt-at1" {
		t.Errorf("RefreshToken after read-through = %q, %v", rt.Secret, ok)
	}
	if n := store.loads.Load(); n != loads {
		t.Errorf("a loaded partition was loaded again (%d loads)", n-loads)
	}
	if accts := b.Accounts(ctx, AccountFilter{HomeAccountID: "uid.utid"}); len(accts) != 1 || accts[0].LocalAccountID != "oid-uid.utid" {
		t.Errorf("Accounts = %v", accts)
	}
}

func TestStore_readThroughSkipsExpiredAndRemembersEmpty(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: NewMemoryStore()}
	mustStore(t, New(WithStore(store)), userResponse("h", "old", "s"), t0)
	b := New(WithStore(store))
	if _, ok := b.AccessToken(ctx, userQuery("h", "s"), t0.Add(2*time.Hour)); ok {
		t.Error("served an expired stored token")
	}
	if st := b.Stats(); st.Entries != 3 {
		t.Errorf("Entries = %d, want the refresh token, ID token and account but not the expired access token", st.Entries)
	}
	// A partition the store does not have is asked for once.
	before := store.loads.Load()
	for range 3 {
		b.AccessToken(ctx, userQuery("nobody", "s"), t0)
	}
	if n := store.loads.Load() - before; n != 1 {
		t.Errorf("loads of an empty partition = %d, want 1", n)
	}
}

func TestStore_writeThroughMergesWithStored(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	// Another MSAL wrote this user's partition, with unknown sections and
	// fields, an access token for "s2 s1 s3" and a Python-style key.
	seed := readFixture(t, "test_serialized_cache.json")
	if err := store.Update(ctx, "uid.utid", func([]byte) ([]byte, error) { return seed, nil }); err != nil {
		t.Fatal(err)
	}
	c := New(WithStore(store))
	r := Response{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: "uid.utid",
		Scopes: []string{"s1"}, AccessToken: "new", ExpiresOn: t0.Add(time.Hour), RefreshToken: "new rt"}
	mustStore(t, c, r, t0)
	data, _ := store.Load(ctx, "uid.utid")
	doc := parseJSON(t, data).(map[string]any)
	if doc["unknownEntity"] == nil || doc["AccessToken"].(map[string]any)["an-entry"] == nil {
		t.Errorf("unknown content of the stored partition lost: %s", data)
	}
	ats := doc["AccessToken"].(map[string]any)
	if _, ok := ats["uid.utid-login.windows.net-accesstoken-my_client_id-contoso-s2 s1 s3"]; ok {
		t.Error("the stored token with intersecting scopes was not replaced")
	}
	if len(ats) != 2 {
		t.Errorf("stored access tokens = %v", ats)
	}
	rts := doc["RefreshToken"].(map[string]any)
	if len(rts) != 1 || rts["uid.utid-login.microsoftonline.com-refreshtoken-my_client_id"] == nil {
		t.Errorf("stored refresh tokens = %v, want the Python-keyed one replaced", rts)
	}
	if doc["IdToken"].(map[string]any)["uid.utid-login.windows.net-idtoken-my_client_id-contoso-"] == nil {
		t.Error("the stored ID token (untouched by this response) was lost")
	}
}

func TestStore_updateRetries(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	store := &countingStore{Store: mem}
	other := New(WithStore(mem))
	var once sync.Once
	conflicting := &hookStore{Store: store, beforeFn: func() {
		// Another writer commits between our read and our write.
		once.Do(func() { mustStore(t, other, userResponse("h", "theirs", "Mail.Read"), t0) })
	}}
	c := New(WithStore(conflicting))
	mustStore(t, c, userResponse("h", "ours", "User.Read"), t0)
	if n := store.fnRuns.Load(); n != 2 {
		t.Errorf("fn ran %d times, want 2 (one conflict)", n)
	}
	fresh := New(WithStore(mem))
	for scope, want := range map[string]string{"User.Read": "ours", "Mail.Read": "theirs"} {
		if at, ok := fresh.AccessToken(ctx, userQuery("h", scope), t0); !ok || at.Secret != want {
			t.Errorf("%s: %q, %v; want %q (no writer loses the other's entries)", scope, at.Secret, ok, want)
		}
	}
}

// hookStore runs beforeFn before each run of an Update's fn.
type hookStore struct {
	Store
	beforeFn func()
}

func (s *hookStore) Update(ctx context.Context, p string, fn func([]byte) ([]byte, error)) error {
	return s.Store.Update(ctx, p, func(old []byte) ([]byte, error) {
		s.beforeFn()
		return fn(old)
	})
}

func TestStore_failuresAreLoggedAndSurvived(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	boom := errors.New("redis: connection refused")
	c := New(WithStore(failingStore{boom}), WithLogger(logger))
	r := userResponse("h", "the-access-token", "User.Read")
	r.UserAssertionHash = AssertionHash("the-user-assertion")
	if err := c.StoreResponse(ctx, r, t0); err != nil {
		t.Fatalf("StoreResponse = %v; a store failure must not fail it", err)
	}
	q := userQuery("h", "User.Read")
	q.UserAssertionHash = r.UserAssertionHash
	if at, ok := c.AccessToken(ctx, q, t0); !ok || at.Secret != "the-access-token" {
		t.Errorf("memory does not serve while the store fails: %q %v", at.Secret, ok)
	}
	if _, ok := c.AccessToken(ctx, userQuery("h2", "User.Read"), t0); ok {
		t.Error("hit for an unknown user")
	}
	err := c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id")
	var se *StoreError
	if !errors.As(err, &se) || se.Op != "update" || !errors.Is(err, boom) || !errors.Is(err, ErrStore) {
		t.Errorf("RemoveAccount = %v, want a *StoreError wrapping the store's", err)
	}
	text := logs.String()
	if strings.Count(text, `"msg":"cache: store failed; serving from memory"`) < 3 {
		t.Errorf("log = %s, want the update and load failures", text)
	}
	for _, secret := range []string{"the-access-token", "rt-the-access-token", "idt-the-access-token", "the-user-assertion", r.UserAssertionHash} {
		if strings.Contains(text, secret) {
			t.Errorf("log holds %q: %s", secret, text)
		}
	}
	if !strings.Contains(text, `"partition_kind":"on-behalf-of"`) || !strings.Contains(text, "connection refused") {
		t.Errorf("log = %s", text)
	}
}

func TestStore_corruptDocument(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	if err := mem.Update(ctx, "h", func([]byte) ([]byte, error) { return []byte("{not json"), nil }); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := New(WithStore(mem), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if _, ok := c.AccessToken(ctx, userQuery("h", "s"), t0); ok {
		t.Error("hit from a corrupt document")
	}
	if !strings.Contains(logs.String(), "malformed") {
		t.Errorf("log = %q, want the corrupt document reported", logs.String())
	}
	mustStore(t, c, userResponse("h", "at", "s"), t0)
	if at, ok := c.AccessToken(ctx, userQuery("h", "s"), t0); !ok || at.Secret != "at" {
		t.Errorf("memory does not serve the token cached over a corrupt document: %q %v", at.Secret, ok)
	}
	if data, _ := mem.Load(ctx, "h"); string(data) != "{not json" {
		t.Errorf("the corrupt document was replaced (it may hold what others stored): %s", data)
	}
}

func TestStore_loadsAreCoalesced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := NewMemoryStore()
		mustStore(t, New(WithStore(mem)), userResponse("h", "at", "s"), t0)
		release := make(chan struct{})
		gate := &gatedStore{Store: mem, release: release}
		c := New(WithStore(gate))
		const n = 20
		var wg sync.WaitGroup
		var hits atomic.Int64
		for range n {
			wg.Go(func() {
				if at, ok := c.AccessToken(context.Background(), userQuery("h", "s"), t0); ok && at.Secret == "at" {
					hits.Add(1)
				}
			})
		}
		synctest.Wait() // every goroutine is waiting for the one load
		if got := gate.loads.Load(); got != 1 {
			t.Errorf("%d loads in flight, want 1", got)
		}
		close(release)
		wg.Wait()
		if hits.Load() != n {
			t.Errorf("%d of %d lookups hit", hits.Load(), n)
		}
	})
}

func TestStore_cancelledWaiterMisses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := NewMemoryStore()
		mustStore(t, New(WithStore(mem)), userResponse("h", "at", "s"), t0)
		release := make(chan struct{})
		c := New(WithStore(&gatedStore{Store: mem, release: release}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() {
			_, ok := c.AccessToken(ctx, userQuery("h", "s"), t0)
			done <- ok
		}()
		synctest.Wait()
		cancel()
		if <-done {
			t.Error("a cancelled lookup hit before the load finished")
		}
		close(release) // the load finishes for whoever asks next
		synctest.Wait()
		if _, ok := c.AccessToken(context.Background(), userQuery("h", "s"), t0); !ok {
			t.Error("the load abandoned by its caller was not merged")
		}
	})
}

// TestStore_loadOverlappingAWriteIsNotMerged: a lookup's read-through
// Load reads the stored partition; before it merges what it read, a
// write-through changes the partition in memory and in the store. What the
// Load read is older than memory: merged, it would bring back what the
// write removed or replaced.
func TestStore_loadOverlappingAWriteIsNotMerged(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		seed  Response
		write func(c *Cache) error
		query AccessTokenQuery
	}{
		{"RemoveAccount", userResponse("h", "at", "s"),
			func(c *Cache) error {
				return c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id")
			},
			userQuery("h", "s")},
		{"RemoveAppTokens", appResponse("app", "t", "app-token", "s"),
			func(c *Cache) error { return c.RemoveAppTokens(ctx, "app", "t") },
			AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "app", Scopes: []string{"s"}}},
		{"StoreResponse replacing a token of intersecting scopes", userResponse("h", "old", "s1", "s2"),
			func(c *Cache) error { return c.StoreResponse(ctx, userResponse("h", "new", "s1"), t0) },
			userQuery("h", "s2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				mem := NewMemoryStore()
				mustStore(t, New(WithStore(mem)), tt.seed, t0)
				release := make(chan struct{})
				c := New(WithStore(&slowLoadStore{Store: mem, release: release}))
				done := make(chan struct{})
				go func() {
					c.AccessToken(ctx, tt.query, t0) // its Load reads the seed, then waits
					close(done)
				}()
				synctest.Wait()
				if err := tt.write(c); err != nil {
					t.Fatal(err)
				}
				close(release)
				<-done
				if at, ok := c.AccessToken(ctx, tt.query, t0); ok {
					t.Errorf("after the write: %q served, read by a Load that overlapped it", at.Secret)
				}
			})
		})
	}
}

// slowLoadStore reads the partition at once but holds every Load's answer
// until release is closed.
type slowLoadStore struct {
	Store
	release chan struct{}
}

func (s *slowLoadStore) Load(ctx context.Context, p string) ([]byte, error) {
	data, err := s.Store.Load(ctx, p)
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return data, err
}

// gatedStore holds every Load until release is closed.
type gatedStore struct {
	Store
	release chan struct{}
	loads   atomic.Int64
}

func (s *gatedStore) Load(ctx context.Context, p string) ([]byte, error) {
	s.loads.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.Load(ctx, p)
}

func TestStore_listedAccountsAfterRestart(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	first := New(WithStore(mem))
	mustStore(t, first, userResponse("alice", "a", "s"), t0)
	mustStore(t, first, userResponse("bob", "b", "s"), t0)
	mustStore(t, first, appResponse("my_client_id", "contoso", "app", "s"), t0)
	obo := userResponse("carol", "c", "s")
	obo.UserAssertionHash = AssertionHash("carol's assertion")
	mustStore(t, first, obo, t0)

	restarted := New(WithStore(mem))
	got := restarted.Accounts(ctx, AccountFilter{})
	if len(got) != 2 || got[0].Username != "alice@contoso.com" || got[1].Username != "bob@contoso.com" {
		t.Errorf("Accounts after restart = %v, want alice and bob (on-behalf-of accounts are not sign-ins)", got)
	}
	// A store that cannot list: only what memory holds.
	noList := New(WithStore(struct{ Store }{mem}))
	if got := noList.Accounts(ctx, AccountFilter{}); len(got) != 0 {
		t.Errorf("Accounts = %v", got)
	}
}

func TestStore_removeAccountWritesThrough(t *testing.T) {
	ctx := context.Background()
	mem := NewMemoryStore()
	c := New(WithStore(mem))
	mustStore(t, c, userResponse("h", "at", "s"), t0)
	if err := c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.microsoft.com"}, "my_client_id"); err != nil {
		t.Fatal(err)
	}
	data, _ := mem.Load(ctx, "h")
	var doc map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"AccessToken", "RefreshToken", "IdToken", "Account"} {
		if len(doc[s]) != 0 {
			t.Errorf("stored %s after RemoveAccount = %v", s, doc[s])
		}
	}
	fresh := New(WithStore(mem))
	if _, ok := fresh.AccessToken(ctx, userQuery("h", "s"), t0); ok {
		t.Error("a removed account's token came back through the store")
	}
}
