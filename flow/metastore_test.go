package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/redistest"
)

// metadataRequests counts the discovery requests srv received: instance
// discovery and OpenID Connect discovery documents.
func metadataRequests(srv *authtest.Server) int {
	return len(srv.RequestsTo(authtest.EndpointDiscovery)) + len(srv.RequestsTo(authtest.EndpointOpenIDConfiguration))
}

// TestMetadataStoreSavesDiscoveries: an application that discovered its
// authority leaves what it found in the metadata store; a restarted
// process (a new application, with an empty token cache) asks the
// authority for a token only, with no discovery request. For each store,
// and for an OpenID Connect authority and an Entra host that instance
// discovery vouches for.
func TestMetadataStoreSavesDiscoveries(t *testing.T) {
	stores := map[string]func(t *testing.T) cache.Store{
		"memory": func(*testing.T) cache.Store { return cache.NewMemoryStore() },
		"file": func(t *testing.T) cache.Store {
			s, err := filestore.New(filepath.Join(t.TempDir(), "cache.json"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"redis": func(t *testing.T) cache.Store { return redisstore.New(redistest.Start(t).Client(), "meta:") },
	}
	for storeName, newStore := range stores {
		for _, kind := range []string{"oidc", "entra_instance_discovery"} {
			t.Run(storeName+"/"+kind, func(t *testing.T) {
				srv := authtest.NewServer(t)
				srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
				store := newStore(t)
				opts := []Option{WithHTTPClient(srv.Client()), WithMetadataStore(store)}
				switch kind {
				case "oidc":
					opts = append(opts, WithOIDCAuthority(srv.OIDCIssuer()))
				default:
					opts = append(opts, WithAuthority(srv.Authority("contoso.com")), WithInstanceDiscoveryEndpoint(srv.URL))
				}
				first := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...)
				if _, err := first.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
					t.Fatal(err)
				}
				if n := metadataRequests(srv); n == 0 {
					t.Fatal("the first process made no discovery request: the test shows nothing")
				}
				srv.ResetRequests()

				restarted := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...)
				r, err := restarted.AcquireTokenForClient(bg(), []string{graphDefault})
				if err != nil {
					t.Fatal(err)
				}
				if n := metadataRequests(srv); n != 0 {
					t.Errorf("the restarted process made %d discovery requests, want 0", n)
				}
				if reqs := srv.RequestsTo(authtest.EndpointToken); len(reqs) != 1 || reqs[0].Status != 200 || r.FromCache {
					t.Errorf("token requests %v, from cache %v; want one, answered", reqs, r.FromCache)
				}
				if _, err := srv.Verify(r.AccessToken); err != nil {
					t.Errorf("the token does not verify: %v", err)
				}
			})
		}
	}
}

// storedEntry rewrites the one entry of the metadata document in store
// with edit.
func editStoredEntry(t *testing.T, store cache.Store, edit func(e map[string]any)) {
	t.Helper()
	err := store.Update(context.Background(), MetadataPartition, func(old []byte) ([]byte, error) {
		var doc map[string]map[string]map[string]any
		if err := json.Unmarshal(old, &doc); err != nil {
			t.Fatalf("the metadata document: %v", err)
		}
		if len(doc[metadataSection]) != 1 {
			t.Fatalf("the metadata document holds %d entries, want 1", len(doc[metadataSection]))
		}
		for _, e := range doc[metadataSection] {
			edit(e)
		}
		return json.Marshal(doc)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestStoredMetadataIsRevalidated: a metadata document read back from a
// store that anyone with access to it could have written is used only
// when it passes the checks; otherwise the authority is asked, and no
// request goes where the stored document pointed.
func TestStoredMetadataIsRevalidated(t *testing.T) {
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer evil.Close()
	set := func(field, value string) func(e map[string]any) {
		return func(e map[string]any) { e[field] = value }
	}
	tests := []struct {
		name string
		edit func(e map[string]any)
	}{
		{"token endpoint elsewhere", set("token_endpoint", evil.URL+"/token")},
		{"token endpoint on another port", func(e map[string]any) {
			e["token_endpoint"] = strings.Replace(e["token_endpoint"].(string), "127.0.0.1:", "127.0.0.1:1", 1)
		}},
		{"authorization endpoint elsewhere", set("authorization_endpoint", evil.URL+"/authorize")},
		{"jwks elsewhere", set("jwks_uri", evil.URL+"/keys")},
		{"end session elsewhere", set("end_session_endpoint", evil.URL+"/logout")},
		{"user information in an endpoint", func(e map[string]any) {
			e["token_endpoint"] = strings.Replace(e["token_endpoint"].(string), "http://", "http://user:pw@", 1)
		}},
		{"https changed to another scheme", func(e map[string]any) {
			e["token_endpoint"] = strings.Replace(e["token_endpoint"].(string), "http://", "ftp://", 1)
		}},
		{"issuer elsewhere", set("issuer", evil.URL+"/")},
		{"no token endpoint", func(e map[string]any) { delete(e, "token_endpoint") }},
		{"another environment", set("environment", "login.evil.example")},
		{"stale", func(e map[string]any) { e["fetched_at"] = float64(t0.Add(-25 * time.Hour).Unix()) }},
		{"from the future", func(e map[string]any) { e["fetched_at"] = float64(t0.Add(25 * time.Hour).Unix()) }},
		{"a field of the wrong type", func(e map[string]any) { e["token_endpoint"] = 42 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := authtest.NewServer(t)
			srv.SetNow(t0)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			store := cache.NewMemoryStore()
			logs := &logBuffer{}
			opts := []Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithMetadataStore(store), WithClock(srv.Now),
				WithLogger(logs.logger())}
			first := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...)
			if _, err := first.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
				t.Fatal(err)
			}
			editStoredEntry(t, store, tt.edit)
			srv.ResetRequests()
			evilHits.Store(0)

			restarted := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...)
			r, err := restarted.AcquireTokenForClient(bg(), []string{graphDefault})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(srv.RequestsTo(authtest.EndpointOpenIDConfiguration)); n != 1 {
				t.Errorf("%d discovery requests, want 1: the stored document must be ignored", n)
			}
			if n := evilHits.Load(); n != 0 {
				t.Errorf("%d requests went where the stored document pointed", n)
			}
			if _, err := srv.Verify(r.AccessToken); err != nil {
				t.Errorf("the token does not verify: %v", err)
			}
			if strings.Contains(logs.String(), daemonSecret) || strings.Contains(logs.String(), r.AccessToken) {
				t.Error("a log line shows a secret")
			}
		})
	}
	t.Run("the document as stored is used", func(t *testing.T) {
		// The control: unchanged, the stored document saves the discovery.
		srv := authtest.NewServer(t)
		srv.SetNow(t0)
		srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
		store := cache.NewMemoryStore()
		opts := []Option{WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithMetadataStore(store), WithClock(srv.Now)}
		if _, err := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...).AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
			t.Fatal(err)
		}
		editStoredEntry(t, store, func(map[string]any) {})
		srv.ResetRequests()
		if _, err := mustConfidential(t, daemonID, credential.Secret(daemonSecret), opts...).AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.RequestsTo(authtest.EndpointOpenIDConfiguration)); n != 0 {
			t.Errorf("%d discovery requests, want 0", n)
		}
	})
}

// TestMetadataStoreMalformedDocumentIsLeftAlone: a metadata document that
// is not ours to read is ignored and not overwritten.
func TestMetadataStoreMalformedDocumentIsLeftAlone(t *testing.T) {
	srv := authtest.NewServer(t)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
	store := cache.NewMemoryStore()
	junk := []byte(`["not", "an object"]`)
	if err := store.Update(bg(), MetadataPartition, func([]byte) ([]byte, error) { return junk, nil }); err != nil {
		t.Fatal(err)
	}
	app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
		WithOIDCAuthority(srv.OIDCIssuer()), WithHTTPClient(srv.Client()), WithMetadataStore(store))
	if _, err := app.AcquireTokenForClient(bg(), []string{graphDefault}); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load(bg(), MetadataPartition)
	if err != nil || !bytes.Equal(got, junk) {
		t.Errorf("the document is now %q, %v; want it left as it was", got, err)
	}
}

// TestKeySetsAreNotStored: the web API middleware of a restarted process
// reads its authority's discovery document from the metadata store, but
// always fetches the signing keys from the authority.
func TestKeySetsAreNotStored(t *testing.T) {
	m := newMiddleTier(t, authtest.Client{})
	store := cache.NewMemoryStore()
	token := m.assertion(aliceName)
	serve := func() {
		t.Helper()
		a := newAPI(t, m, []Option{WithMetadataStore(store)}, WithAudiences(middleAPI))
		if w := a.call("Bearer " + token); w.Code != http.StatusOK {
			t.Fatalf("the middleware answered %d: %s", w.Code, w.Body)
		}
	}
	serve()
	if n := len(m.srv.RequestsTo(authtest.EndpointOpenIDConfiguration)); n != 1 {
		t.Fatalf("%d discovery requests at the first start, want 1", n)
	}
	doc, err := store.Load(bg(), MetadataPartition)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte(`"keys"`)) || bytes.Contains(doc, []byte(`"kty"`)) {
		t.Errorf("the metadata store holds a key set: %s", doc)
	}
	m.srv.ResetRequests()
	serve()
	if n := len(m.srv.RequestsTo(authtest.EndpointOpenIDConfiguration)); n != 0 {
		t.Errorf("%d discovery requests after a restart, want 0", n)
	}
	if n := len(m.srv.RequestsTo(authtest.EndpointKeys)); n != 1 {
		t.Errorf("%d key set requests after a restart, want 1: keys are never taken from a store", n)
	}
}
