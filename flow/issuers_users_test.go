package flow

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/bearerhttp/bearer/cache"
)

// userRealmsProvider is an OpenID Connect provider serving several
// issuers on one host, as Keycloak serves its realms
// ({URL}/realms/{name}), for the user flows: each realm has its own
// signing key and users, signs users in with a username and password,
// and redeems only the refresh tokens it issued itself (to the client
// that redeems them), as separate issuers do. Its tokens name their
// realm: access tokens "{realm}-user-{n}", refresh tokens "{realm}-rt-{n}".
type userRealmsProvider struct {
	*server
	mu      sync.Mutex
	n       int
	keys    map[string]*rsa.PrivateKey   // by realm
	users   map[string]map[string]string // realm → username → sub
	rts     map[string]string            // refresh token → realm|client
	foreign []string                     // "realm: refresh token of another realm" seen at a token endpoint
}

func newUserRealmsProvider(t *testing.T, users map[string]map[string]string) *userRealmsProvider {
	t.Helper()
	p := &userRealmsProvider{server: newServer(t), keys: map[string]*rsa.PrivateKey{}, users: users, rts: map[string]string{}}
	for realm := range users {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		p.keys[realm] = k
	}
	p.handle("*", p.serve)
	return p
}

// issuer returns the URL of realm.
func (p *userRealmsProvider) issuer(realm string) string { return p.URL + "/realms/" + realm }

func (p *userRealmsProvider) serve(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/realms/")
	realm, endpoint, _ := strings.Cut(rest, "/")
	key := p.keys[realm]
	if key == nil {
		http.NotFound(w, r)
		return
	}
	issuer := p.issuer(realm)
	switch endpoint {
	case ".well-known/openid-configuration":
		writeJSON(w, 200, fmt.Sprintf(`{"issuer":%q,"authorization_endpoint":"%[1]s/protocol/openid-connect/auth",`+
			`"token_endpoint":"%[1]s/protocol/openid-connect/token","jwks_uri":"%[1]s/protocol/openid-connect/certs",`+
			`"id_token_signing_alg_values_supported":["RS256"]}`, issuer))
	case "protocol/openid-connect/certs":
		pub, err := jwk.FromRaw(key.Public())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		pub.Set(jwk.KeyIDKey, realm)
		pub.Set(jwk.AlgorithmKey, jwa.RS256)
		set := jwk.NewSet()
		set.AddKey(pub)
		b, _ := json.Marshal(set)
		writeJSON(w, 200, string(b))
	case "protocol/openid-connect/token":
		p.token(w, r, realm, issuer, key)
	default:
		http.NotFound(w, r)
	}
}

func (p *userRealmsProvider) token(w http.ResponseWriter, r *http.Request, realm, issuer string, key *rsa.PrivateKey) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, `{"error":"invalid_request"}`)
		return
	}
	client := r.PostForm.Get("client_id")
	p.mu.Lock()
	defer p.mu.Unlock()
	var username string
	switch r.PostForm.Get("grant_type") {
	case "password":
		username = r.PostForm.Get("username")
		if _, ok := p.users[realm][username]; !ok {
			writeJSON(w, 401, `{"error":"invalid_grant","error_description":"Invalid user credentials"}`)
			return
		}
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		owner, ok := p.rts[rt]
		if !ok || !strings.HasPrefix(owner, realm+"|"+client+"|") {
			if ok && !strings.HasPrefix(owner, realm+"|") {
				p.foreign = append(p.foreign, realm+": a refresh token of "+strings.SplitN(owner, "|", 2)[0])
			}
			writeJSON(w, 400, `{"error":"invalid_grant","error_description":"Invalid refresh token"}`)
			return
		}
		delete(p.rts, rt) // rotated
		username = strings.SplitN(owner, "|", 3)[2]
	default:
		writeJSON(w, 400, `{"error":"unsupported_grant_type"}`)
		return
	}
	p.n++
	rt := fmt.Sprintf("%s-rt-%d", realm, p.n)
	p.rts[rt] = realm + "|" + client + "|" + username
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": issuer, "aud": client, "sub": p.users[realm][username], "preferred_username": username,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	hdr := jws.NewHeaders()
	hdr.Set(jws.KeyIDKey, realm)
	idt, err := jws.Sign(claims, jws.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	writeJSON(w, 200, fmt.Sprintf(`{"token_type":"Bearer","expires_in":3600,"access_token":"%s-user-%d","refresh_token":%q,"id_token":%q,"scope":%q}`,
		realm, p.n, rt, idt, r.PostForm.Get("scope")))
}

// foreignRefreshTokens lists the refresh tokens of one realm presented at
// another's token endpoint.
func (p *userRealmsProvider) foreignRefreshTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.foreign...)
}

// TestOIDCIssuersOnOneHostUsersApart checks that the users of two OpenID
// Connect issuers on one host (Keycloak realms /realms/a and /realms/b),
// signed in to applications of one client ID sharing a cache, stay
// apart: a user with the same subject in both realms (a realm imported
// from another keeps its users' IDs) has a refresh token per realm, each
// redeemed at its own realm only (a refresh token is never sent to
// another issuer); each application lists the accounts of its own issuer
// only; removing an account removes it from its issuer only.
func TestOIDCIssuersOnOneHostUsersApart(t *testing.T) {
	const clientID = "shared-client"
	scopes := []string{"orders"}
	p := newUserRealmsProvider(t, map[string]map[string]string{
		"a": {"alice": "sub-alice"},
		"b": {"alice": "sub-alice", "bob": "sub-bob"},
	})
	a, b := p.issuer("a"), p.issuer("b")
	c := cache.New(cache.WithStore(cache.NewMemoryStore()))
	appA := mustPublic(t, clientID, WithOIDCAuthority(a), WithHTTPClient(p.Client()), WithCache(c))
	appB := mustPublic(t, clientID, WithOIDCAuthority(b), WithHTTPClient(p.Client()), WithCache(c))
	signIn := func(app *Public, realm, user string) Account {
		t.Helper()
		r, err := app.AcquireTokenByUsernamePassword(bg(), user, "pw", scopes)
		if err != nil {
			t.Fatalf("%s at realm %s: %v", user, realm, err)
		}
		if !strings.HasPrefix(r.AccessToken, realm+"-user-") || r.Account.HomeAccountID == "" {
			t.Fatalf("%s at realm %s: token %q, account %v", user, realm, r.AccessToken, r.Account)
		}
		return r.Account
	}
	aliceA := signIn(appA, "a", "alice")
	aliceB := signIn(appB, "b", "alice")
	bobB := signIn(appB, "b", "bob")
	if aliceA.HomeAccountID != aliceB.HomeAccountID {
		t.Fatalf("the test needs one subject in both realms")
	}

	// refresh redeems the account's refresh token at app's realm.
	refresh := func(t *testing.T, app *Public, realm string, acct Account) {
		t.Helper()
		r, err := app.AcquireTokenSilent(bg(), scopes, acct, ForceRefresh())
		if err != nil {
			t.Errorf("refresh at realm %s: %v", realm, err)
			return
		}
		if !strings.HasPrefix(r.AccessToken, realm+"-user-") || r.Account.TenantID != p.issuer(realm) {
			t.Errorf("refresh at realm %s: token %q of account %q", realm, r.AccessToken, r.Account.TenantID)
		}
	}
	t.Run("refresh_tokens", func(t *testing.T) {
		refresh(t, appA, "a", aliceA)
		refresh(t, appB, "b", aliceB)
		refresh(t, appA, "a", aliceA)
		if f := p.foreignRefreshTokens(); len(f) > 0 {
			t.Errorf("refresh tokens sent to another issuer: %q", f)
		}
	})

	t.Run("accounts", func(t *testing.T) {
		for _, tt := range []struct {
			app   *Public
			realm string
			want  []string
		}{
			{appA, a, []string{"alice"}},
			{appB, b, []string{"alice", "bob"}},
		} {
			accts, err := tt.app.Accounts(bg(), "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, acct := range accts {
				got = append(got, acct.Username)
				if acct.TenantID != tt.realm {
					t.Errorf("the application of %s lists an account of %s", tt.realm, acct.TenantID)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("the application of %s lists %q, want %q", tt.realm, got, tt.want)
			}
		}
		// An account of realm b given to the application of realm a has
		// no refresh token there: nothing is sent.
		if _, err := appA.AcquireTokenSilent(bg(), scopes, bobB, ForceRefresh()); !errors.Is(err, ErrInteractionRequired) {
			t.Errorf("bob of realm b at realm a: %v, want interaction required", err)
		}
		if f := p.foreignRefreshTokens(); len(f) > 0 {
			t.Errorf("refresh tokens sent to another issuer: %q", f)
		}
	})

	t.Run("msal_json", func(t *testing.T) {
		// Each issuer is an environment of its own: its host, port and
		// path.
		doc, err := c.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		var msal struct {
			RefreshToken map[string]struct {
				Environment string `json:"environment"`
				Secret      string `json:"secret"`
			}
		}
		if err := json.Unmarshal(doc, &msal); err != nil {
			t.Fatal(err)
		}
		host := strings.TrimPrefix(p.URL, "http://")
		envs := map[string]int{}
		for _, rt := range msal.RefreshToken {
			realm, _, _ := strings.Cut(rt.Secret, "-")
			if want := host + "/realms/" + realm; rt.Environment != want {
				t.Errorf("refresh token of realm %s: environment %q, want %q", realm, rt.Environment, want)
			}
			envs[rt.Environment]++
		}
		if len(msal.RefreshToken) != 3 || len(envs) != 2 {
			t.Errorf("%d refresh tokens in %d environments, want 3 (alice twice, bob) in 2", len(msal.RefreshToken), len(envs))
		}
	})

	t.Run("remove_account", func(t *testing.T) {
		if err := appA.RemoveAccount(bg(), aliceA); err != nil {
			t.Fatal(err)
		}
		if _, err := appA.AcquireTokenSilent(bg(), scopes, aliceA); !errors.Is(err, ErrInteractionRequired) {
			t.Errorf("alice at realm a after RemoveAccount: %v, want interaction required", err)
		}
		refresh(t, appB, "b", aliceB)
		if accts, err := appB.Accounts(bg(), "alice"); err != nil || len(accts) != 1 {
			t.Errorf("alice at realm b after her removal from a: %d accounts, %v", len(accts), err)
		}
		if f := p.foreignRefreshTokens(); len(f) > 0 {
			t.Errorf("refresh tokens sent to another issuer: %q", f)
		}
	})
}
