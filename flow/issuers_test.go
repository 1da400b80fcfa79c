package flow

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/credential"
)

// realmsProvider is an OpenID Connect provider serving several issuers on
// one host, as Keycloak serves its realms: {URL}/realms/{name}, with a
// discovery document and a token endpoint each. The access tokens it
// issues name their realm and grant: "{realm}-{client|obo}-{n}".
// (authtest has one OpenID Connect issuer per server, hence this one.)
type realmsProvider struct {
	*server
	n atomic.Int64
}

func newRealmsProvider(t *testing.T) *realmsProvider {
	t.Helper()
	p := &realmsProvider{server: newServer(t)}
	p.handle("*", func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/realms/")
		realm, endpoint, _ := strings.Cut(rest, "/")
		if !ok || realm == "" {
			http.NotFound(w, r)
			return
		}
		issuer := p.URL + "/realms/" + realm
		switch endpoint {
		case ".well-known/openid-configuration":
			writeJSON(w, 200, fmt.Sprintf(`{"issuer":%q,"authorization_endpoint":"%[1]s/protocol/openid-connect/auth",`+
				`"token_endpoint":"%[1]s/protocol/openid-connect/token","jwks_uri":"%[1]s/protocol/openid-connect/certs",`+
				`"token_endpoint_auth_methods_supported":["client_secret_post"]}`, issuer))
		case "protocol/openid-connect/token":
			if err := r.ParseForm(); err != nil {
				writeJSON(w, 400, `{"error":"invalid_request"}`)
				return
			}
			kind := "client"
			if r.PostForm.Get("grant_type") != "client_credentials" {
				kind = "obo"
			}
			tokenHandler(fmt.Sprintf("%s-%s-%d", realm, kind, p.n.Add(1)))(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	return p
}

// issuer returns the URL of realm.
func (p *realmsProvider) issuer(realm string) string { return p.URL + "/realms/" + realm }

// testJWT is a compact JWS in canonical base64url (unsigned: the
// provider does not check it) carrying claims.
func testJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"k1","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

// TestOIDCIssuersOnOneHostCacheApart checks that two OpenID Connect
// issuers on one host (Keycloak realms /realms/a and /realms/b), with one
// client ID, never get each other's cached token: through a call's
// Authority, through two applications sharing a cache, and for
// on-behalf-of tokens; and that their tokens go to different store
// partitions.
func TestOIDCIssuersOnOneHostCacheApart(t *testing.T) {
	const clientID = "shared-client"
	scopes := []string{"orders"}
	p := newRealmsProvider(t)
	a, b := p.issuer("a"), p.issuer("b")
	newApp := func(t *testing.T, issuer string, opts ...Option) *Confidential {
		return mustConfidential(t, clientID, credential.Secret("client-s3cret"),
			append([]Option{WithOIDCAuthority(issuer), WithHTTPClient(p.Client())}, opts...)...)
	}
	// want checks that r is a token of realm (kind client or obo), from
	// the cache or not.
	want := func(t *testing.T, what string, r Result, err error, realm, kind string, fromCache bool) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !strings.HasPrefix(r.AccessToken, realm+"-"+kind+"-") || r.FromCache != fromCache {
			t.Errorf("%s: token %q (from cache %v), want one of realm %s (from cache %v)", what, r.AccessToken, r.FromCache, realm, fromCache)
		}
	}

	t.Run("call_authority", func(t *testing.T) {
		app := newApp(t, a)
		r, err := app.AcquireTokenForClient(bg(), scopes)
		want(t, "realm a", r, err, "a", "client", false)
		r, err = app.AcquireTokenForClient(bg(), scopes, Authority(b))
		want(t, "Authority(realm b)", r, err, "b", "client", false)
		r, err = app.AcquireTokenForClient(bg(), scopes)
		want(t, "realm a again", r, err, "a", "client", true)
		r, err = app.AcquireTokenForClient(bg(), scopes, Authority(b+"/"))
		want(t, "Authority(realm b/) again", r, err, "b", "client", true)
	})

	t.Run("shared_cache", func(t *testing.T) {
		store := cache.NewMemoryStore()
		shared := cache.New(cache.WithStore(store))
		appA, appB := newApp(t, a, WithCache(shared)), newApp(t, b, WithCache(shared))
		r, err := appA.AcquireTokenForClient(bg(), scopes)
		want(t, "app of realm a", r, err, "a", "client", false)
		tokA := r.AccessToken
		r, err = appB.AcquireTokenForClient(bg(), scopes)
		want(t, "app of realm b", r, err, "b", "client", false)
		tokB := r.AccessToken
		r, err = appA.AcquireTokenForClient(bg(), scopes)
		want(t, "app of realm a again", r, err, "a", "client", true)

		// Each issuer's tokens are stored in a partition of their own.
		parts, err := store.Partitions(bg())
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 {
			t.Fatalf("stored partitions %q, want one per issuer", parts)
		}
		for _, part := range parts {
			doc, err := store.Load(bg(), part)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(doc), tokA) == strings.Contains(string(doc), tokB) {
				t.Errorf("partition %q holds the tokens of both issuers or of none", part)
			}
		}
		// In the MSAL cache schema, an OpenID Connect authority's entries
		// have its issuer URL without the scheme as environment and its
		// issuer URL as realm.
		doc, err := shared.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		var msal struct {
			AccessToken map[string]struct {
				Environment string `json:"environment"`
				Realm       string `json:"realm"`
				Secret      string `json:"secret"`
			}
		}
		if err := json.Unmarshal(doc, &msal); err != nil {
			t.Fatal(err)
		}
		realms := map[string]string{}
		for _, at := range msal.AccessToken {
			if want := strings.TrimPrefix(at.Realm, "http://"); at.Environment != want {
				t.Errorf("environment %q, want %q, the issuer without the scheme", at.Environment, want)
			}
			realms[at.Secret] = at.Realm
		}
		if realms[tokA] != a || realms[tokB] != b {
			t.Errorf("realms %v, want %s and %s", realms, a, b)
		}

		// A cache read back from the store (another process) keeps them
		// apart too.
		other := cache.New(cache.WithStore(store))
		r, err = newApp(t, b, WithCache(other)).AcquireTokenForClient(bg(), scopes)
		want(t, "realm b in another process", r, err, "b", "client", true)
	})

	t.Run("on_behalf_of", func(t *testing.T) {
		app := newApp(t, a)
		assertion := testJWT(`{"sub":"alice","aud":"shared-client"}`)
		r, err := app.AcquireTokenOnBehalfOf(bg(), assertion, scopes)
		want(t, "realm a", r, err, "a", "obo", false)
		r, err = app.AcquireTokenOnBehalfOf(bg(), assertion, scopes, Authority(b))
		want(t, "Authority(realm b)", r, err, "b", "obo", false)
		r, err = app.AcquireTokenOnBehalfOf(bg(), assertion, scopes, Authority(b))
		want(t, "Authority(realm b) again", r, err, "b", "obo", true)
	})

	t.Run("flight_keys", func(t *testing.T) {
		// Concurrent acquisitions of the two issuers are not coalesced.
		app := newApp(t, a)
		var keys []string
		for _, iss := range []string{a, b} {
			g, err := app.testGrant(bg(), iss, scopes)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, g.key("", false))
		}
		if keys[0] == keys[1] {
			t.Errorf("the flight keys of %s and %s are equal", a, b)
		}
	})
}

// testGrant is the client-credentials grant of a call to issuer for
// scopes, as AcquireTokenForClient builds it.
func (c *Confidential) testGrant(ctx context.Context, issuer string, scopes []string) (*grant, error) {
	a, err := c.authorityFor(callConfig{authority: issuer})
	if err != nil {
		return nil, err
	}
	g := &grant{a: a, scopes: slices.Clone(scopes), fold: a.caseInsensitiveScopes()}
	if _, err := c.endpoints(ctx, g); err != nil {
		return nil, err
	}
	return g, nil
}
