package flow

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/filestore"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/internal/redistest"
)

// TestProcessesShareAStore runs two flow applications in separate
// processes that share one store (Redis, then a file), with their
// authority's metadata in it too: what the first acquired, the second
// finds, both while the first runs and after it has exited; the second
// makes no request at all.
func TestProcessesShareAStore(t *testing.T) {
	for _, kind := range []string{"redis", "file"} {
		t.Run(kind, func(t *testing.T) {
			srv := authtest.NewServer(t)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			env := []string{envAuthority + "=" + srv.OIDCIssuer(), envOIDC + "=1", envMetadata + "=1"}
			if kind == "redis" {
				env = append(env, envRedis+"="+redistest.Start(t).Addr, envPrefix+"=shared:")
			} else {
				env = append(env, envFile+"="+filepath.Join(t.TempDir(), "msal.cache.json"))
			}
			first := startChild(t, env...)
			first.send("token")
			f := strings.Fields(first.expect("token "))
			if f[2] != "false" {
				t.Errorf("the first process's token came from the cache")
			}
			requests := len(srv.Requests())

			// While the first still runs.
			second := startChild(t, env...)
			second.send("token")
			s := strings.Fields(second.expect("token "))
			if s[1] != f[1] || s[2] != "true" {
				t.Errorf("the second process got another token (same %v, from cache %s)", s[1] == f[1], s[2])
			}
			second.exit()
			first.exit()

			// After both have exited.
			third := startChild(t, env...)
			third.send("token")
			th := strings.Fields(third.expect("token "))
			if th[1] != f[1] || th[2] != "true" {
				t.Errorf("a restarted process got another token (same %v, from cache %s)", th[1] == f[1], th[2])
			}
			third.exit()
			if n := len(srv.Requests()); n != requests {
				t.Errorf("the later processes made %d requests, want 0", n-requests)
			}
		})
	}
}

// TestRedisRestartedMidRun kills Redis under two applications (two
// processes' worth: each its own cache and Redis client) serving
// requests through bearer.Transport, lets their tokens expire while it is
// down, starts it again and lets them expire once more: no request fails,
// and once Redis is back the new token reaches it.
func TestRedisRestartedMidRun(t *testing.T) {
	srv := authtest.NewTLSServer(t, authtest.WithTokenLifetime(time.Hour))
	srv.SetNow(t0)
	srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret, Roles: []string{"User.Read.All"}})
	rs := redistest.Start(t)
	var stores []*redisstore.Store
	var clients []*http.Client
	for range 2 {
		store := redisstore.New(rs.Client(), "restart:", redisstore.WithRetryInterval(0))
		stores = append(stores, store)
		app := mustConfidential(t, daemonID, credential.Secret(daemonSecret),
			WithAuthority("https://login.microsoftonline.com/contoso.com"), WithHTTPClient(srv.Client()), WithClock(srv.Now),
			WithCache(cache.New(cache.WithStore(store))))
		clients = append(clients, &http.Client{Transport: &bearer.Transport{
			Source: app.ClientSource(), Scopes: []string{graphDefault}, Base: srv.Transport(),
		}})
	}
	const workers = 4
	type result struct {
		status int
		err    error
	}
	results := make(chan result)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := clients[w%len(clients)]
			for {
				req, _ := http.NewRequestWithContext(bg(), http.MethodGet, "https://graph.microsoft.com/v1.0/users", nil)
				resp, err := hc.Do(req)
				r := result{err: err}
				if err == nil {
					r.status = resp.StatusCode
					resp.Body.Close()
				}
				select {
				case results <- r:
				case <-stop:
					return
				}
			}
		}()
	}
	// The steps, taken as the requests go on: after 50 answered requests
	// Redis is killed and the tokens expire; after 150 it starts again and
	// they expire once more; after 250 the run ends.
	steps := map[int]func(){
		50: func() {
			rs.Kill()
			srv.Advance(2 * time.Hour)
		},
		150: func() {
			rs.Restart()
			srv.Advance(2 * time.Hour)
		},
	}
	failed := 0
	for n := 1; n <= 250; n++ {
		r := <-results
		if r.err != nil || r.status != http.StatusOK {
			failed++
			t.Errorf("request %d: status %d, %v", n, r.status, r.err)
		}
		if step := steps[n]; step != nil {
			step()
		}
	}
	close(stop)
	wg.Wait()
	if failed != 0 {
		t.Fatalf("%d of 250 requests failed", failed)
	}
	tokens := srv.RequestsTo(authtest.EndpointToken)
	if len(tokens) < 3 {
		t.Errorf("%d token requests, want at least one per token lifetime (3)", len(tokens))
	}
	// The last token, acquired after Redis came back, is in Redis.
	doc, err := stores[0].Load(bg(), cache.AppPartition(daemonID, "contoso.com"))
	if err != nil || doc == nil {
		t.Fatalf("the partition in Redis after the restart: %q, %v", doc, err)
	}
	c := cache.New(cache.WithStore(stores[0]))
	at, ok := c.AccessToken(bg(), cache.AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "contoso.com", ClientID: daemonID,
		Scopes: []string{graphDefault}, CaseInsensitiveScopes: true}, srv.Now())
	if !ok || !at.ExpiresOn.After(srv.Now()) {
		t.Errorf("no token valid now in Redis after the restart: %v %v", at.ExpiresOn, ok)
	}
}

// BenchmarkClientSourceCachedWithStore is BenchmarkClientSourceCached
// with the application's cache in front of each store: a cached token is
// served from memory, the store costs nothing (within 1.1x of no store).
func BenchmarkClientSourceCachedWithStore(b *testing.B) {
	for _, name := range []string{"none", "file", "redis"} {
		b.Run(name, func(b *testing.B) {
			srv := authtest.NewTLSServer(b)
			srv.AddClient(authtest.Client{ID: daemonID, Secret: daemonSecret})
			c := cache.New()
			switch name {
			case "file":
				s, err := filestore.New(filepath.Join(b.TempDir(), "cache.json"))
				if err != nil {
					b.Fatal(err)
				}
				c = cache.New(cache.WithStore(s))
			case "redis":
				c = cache.New(cache.WithStore(redisstore.New(redistest.Start(b).Client(), "bench:")))
			}
			app := mustConfidential(b, daemonID, credential.Secret(daemonSecret), WithAuthority(srv.Authority("contoso.com")),
				WithHTTPClient(srv.Client()), WithCache(c))
			src := app.ClientSource()
			req := bearer.TokenRequest{Scopes: []string{graphDefault}}
			if _, err := src.Token(bg(), req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Token(bg(), req); err != nil {
					b.Fatal(err)
				}
			}
			if n := srv.TokenRequests(); n != 1 {
				b.Errorf("%d token requests", n)
			}
		})
	}
}
