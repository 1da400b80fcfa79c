// Command sharedcache is a web API whose replicas share their token cache
// through Redis: each replica validates its callers' tokens and calls
// Microsoft Graph on their behalf (the on-behalf-of flow), and a Graph
// token one replica acquired for a user serves that user on every other
// replica, and after a restart. Replicas that miss the same token at the
// same time make one request between them (flow's fleet coalescing).
//
// Run with no flags, it shows itself end to end on a local authority
// (authtest, posing as login.microsoftonline.com and graph.microsoft.com)
// and a Redis: the one at -redis (or $REDIS_ADDR), else a redis-server it
// starts on a loopback port. It runs three replicas of the API, calls
// them as signed-in users would, and prints what happens:
//
//	go run ./examples/sharedcache
//
// With -authority it serves one replica for real until interrupted:
//
//	AZURE_CLIENT_SECRET=... go run ./examples/sharedcache -addr 127.0.0.1:8080 \
//	    -redis redis.internal:6379 \
//	    -authority https://login.microsoftonline.com/contoso.onmicrosoft.com \
//	    -client-id <the API's app id> -audience api://orders
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bearerhttp/bearer"
	"github.com/bearerhttp/bearer/authtest"
	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/redisstore"
	"github.com/bearerhttp/bearer/credential"
	"github.com/bearerhttp/bearer/flow"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "sharedcache:", err)
		os.Exit(1)
	}
}

// replica is one instance of the API: its own application object and
// in-memory cache, in front of the Redis every replica shares.
type replica struct {
	app   *flow.Confidential
	graph *http.Client
}

// newReplica builds a replica whose token cache is in front of rc under
// the key prefix "orders-api:" (the same for every replica of the API).
// base reaches the authority and Graph (nil: the network).
func newReplica(clientID, secret, authority string, rc redis.UniversalClient, base http.RoundTripper) (*replica, error) {
	store := redisstore.New(rc, "orders-api:")
	opts := []flow.Option{
		flow.WithAuthority(authority),
		// The tokens: read from Redis on a miss, written to it on every
		// acquisition. Misses are coalesced across replicas through
		// leases in the same Redis (on by default for this store).
		flow.WithCache(cache.New(cache.WithStore(store))),
		// The authority's discovery document too, so a restarted replica
		// asks the authority for nothing it already knows.
		flow.WithMetadataStore(store),
	}
	if base != nil {
		opts = append(opts, flow.WithHTTPClient(&http.Client{Transport: base}))
	}
	app, err := flow.NewConfidential(clientID, credential.Secret(secret), opts...)
	if err != nil {
		return nil, err
	}
	graph := &http.Client{Transport: &bearer.Transport{
		Source: app.OnBehalfOfSource(),
		Scopes: []string{"https://graph.microsoft.com/User.Read"},
		Base:   base,
	}}
	return &replica{app: app, graph: graph}, nil
}

// handler serves GET /me: who the caller is, as Graph knows them.
func (a *replica) handler(name, audience string) http.Handler {
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := flow.TokenClaimsFromContext(r.Context())
		if scp, _ := claims["scp"].(string); !slices.Contains(strings.Fields(scp), "Orders.Read") {
			http.Error(w, "the token lacks the Orders.Read scope", http.StatusForbidden)
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "https://graph.microsoft.com/v1.0/me", nil)
		if err != nil {
			http.Error(w, "bad request", http.StatusInternalServerError)
			return
		}
		resp, err := a.graph.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sharedcache: calling Graph:", err)
			http.Error(w, "the downstream call failed", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var user struct {
			UserPrincipalName string `json:"userPrincipalName"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&user) != nil {
			http.Error(w, "the downstream call failed: "+resp.Status, http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"userPrincipalName": user.UserPrincipalName, "replica": name})
	})
	mux := http.NewServeMux()
	mux.Handle("GET /me", a.app.Middleware(me, flow.WithAudiences(audience)))
	return mux
}

func run(ctx context.Context, args []string, getenv func(string) string, w io.Writer) error {
	fs := flag.NewFlagSet("sharedcache", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to serve the API on (with -authority)")
	redisAddr := fs.String("redis", getenv("REDIS_ADDR"), "Redis address host:port (default $REDIS_ADDR)")
	authority := fs.String("authority", "", "authority URL; without it, a demonstration on a local authority")
	clientID := fs.String("client-id", getenv("AZURE_CLIENT_ID"), "the API's client ID (default $AZURE_CLIENT_ID)")
	audience := fs.String("audience", "", "the API's identifier (App ID URI), the aud its callers' tokens carry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *authority == "" {
		return demo(ctx, *redisAddr, w)
	}
	secret := getenv("AZURE_CLIENT_SECRET")
	switch {
	case *redisAddr == "":
		return errors.New("no Redis: set -redis or REDIS_ADDR")
	case *clientID == "":
		return errors.New("no client ID: set -client-id or AZURE_CLIENT_ID")
	case secret == "":
		return errors.New("no client secret: set AZURE_CLIENT_SECRET")
	case *audience == "":
		return errors.New("no audience: set -audience to the API's App ID URI")
	}
	// Production Redis: authentication and TLS belong here
	// (redis.Options.Username, Password, TLSConfig).
	rc := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer rc.Close()
	r, err := newReplica(*clientID, secret, *authority, rc, nil)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "serving GET http://%s/me\n", ln.Addr())
	return serve(ctx, ln, r.handler(ln.Addr().String(), *audience))
}

// serve serves h on ln until ctx is done.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(shutdown)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startRedis starts a redis-server on a free loopback port, keeping
// nothing on disk, and returns its address and a function that stops it.
func startRedis() (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("no Redis: set -redis or REDIS_ADDR, or install redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--logfile", "")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Ready to accept connections") {
			go io.Copy(io.Discard, out)
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("redis-server did not start")
}

// demo runs three replicas of the API against a local authority and one
// Redis, and calls them as users' apps would.
func demo(ctx context.Context, redisAddr string, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	const (
		tenant   = "contoso.onmicrosoft.com"
		apiID    = "55555555-aaaa-4bbb-8ccc-000000000005"
		audience = "api://orders"
		secret   = "sharedcache-demo-not-a-real-secret"
	)
	if redisAddr == "" {
		addr, stop, err := startRedis()
		if err != nil {
			return err
		}
		defer stop()
		redisAddr = addr
	}
	rc := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", redisAddr, err)
	}
	srv, err := authtest.Start(authtest.WithTLS())
	if err != nil {
		return err
	}
	defer srv.Close()
	srv.AddClient(authtest.Client{ID: apiID, Secret: secret, Name: "orders API"})
	srv.AddAPI(authtest.API{Audience: audience, AppID: apiID, Scopes: []string{"Orders.Read"}})
	for _, u := range []string{"alice", "bob"} {
		srv.AddUser(authtest.User{Username: u + "@contoso.onmicrosoft.com", TenantID: srv.TenantID(tenant)})
	}

	ctx, cancel := context.WithCancel(ctx)
	var servers sync.WaitGroup
	defer func() { cancel(); servers.Wait() }()
	urls := map[string]string{}
	start := func(name string) error {
		r, err := newReplica(apiID, secret, "https://login.microsoftonline.com/"+tenant, rc, srv.Client().Transport)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		servers.Add(1)
		go func() {
			defer servers.Done()
			serve(ctx, ln, r.handler(name, audience))
		}()
		urls[name] = "http://" + ln.Addr().String() + "/me"
		return nil
	}
	for _, name := range []string{"replica-1", "replica-2"} {
		if err := start(name); err != nil {
			return err
		}
	}
	say("Two replicas of the orders API (%s) share Redis at %s.", audience, redisAddr)

	token := func(user string) string {
		return srv.IssueAccessToken(authtest.AccessTokenSpec{Audience: audience, Subject: user + "@contoso.onmicrosoft.com",
			Scopes: []string{"Orders.Read"}, ClientID: "orders-web", Tenant: tenant})
	}
	call := func(replica, user, tok string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, urls[replica], nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return resp.Status + " " + strings.TrimSpace(string(body)), nil
	}
	oboRequests := func() int {
		n := 0
		for _, r := range srv.RequestsTo(authtest.EndpointToken) {
			if r.Form.Get("requested_token_use") == "on_behalf_of" {
				n++
			}
		}
		return n
	}
	step := func(what, replica, user, tok string) error {
		before := oboRequests()
		got, err := call(replica, user, tok)
		if err != nil {
			return err
		}
		say("%s", what)
		say("   <- %s (on-behalf-of requests: %d)", got, oboRequests()-before)
		return nil
	}

	alice := token("alice")
	if err := step("1. Alice calls replica-1; it asks the authority for her Graph token and stores it in Redis:", "replica-1", "alice", alice); err != nil {
		return err
	}
	if err := step("2. Alice calls replica-2; it reads her Graph token from Redis:", "replica-2", "alice", alice); err != nil {
		return err
	}

	// Bob calls both replicas at the same moment: they miss together, and
	// the lease in Redis lets one ask while the other waits for its token.
	bob := token("bob")
	before := oboRequests()
	var wg sync.WaitGroup
	results := make([]string, 2)
	errs := make([]error, 2)
	for i, name := range []string{"replica-1", "replica-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = call(name, "bob", bob)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	say("3. Bob calls both replicas at once; they make one request between them:")
	for _, r := range results {
		say("   <- %s", r)
	}
	say("   (on-behalf-of requests: %d)", oboRequests()-before)

	if err := start("replica-3"); err != nil {
		return err
	}
	before = len(srv.Requests())
	if err := step("4. A new replica starts and serves Alice with her Graph token and the authority's metadata from Redis:", "replica-3", "alice", alice); err != nil {
		return err
	}
	var asked []string
	for _, r := range srv.Requests()[before:] {
		if r.Endpoint != authtest.EndpointResource {
			asked = append(asked, r.Endpoint)
		}
	}
	// The new replica's middleware fetches the authority's signing keys
	// (they are never taken from a store); its discovery document and
	// Alice's Graph token come from Redis.
	say("   (requests to the authority: %s)", strings.Join(asked, ", "))
	if len(asked) != 1 || asked[0] != authtest.EndpointKeys {
		return fmt.Errorf("the new replica asked the authority for %v, want its signing keys only", asked)
	}

	n := oboRequests()
	say("Done: %d on-behalf-of token requests for 5 calls by 2 users on 3 replicas sharing Redis.", n)
	if n != 2 {
		return fmt.Errorf("expected 2 on-behalf-of token requests, the authority saw %d", n)
	}
	return nil
}
