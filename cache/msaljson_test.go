package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixtureTime is a time at which the fixtures' tokens are still valid
// except where a test says otherwise: just after their cached_at.
var fixtureTime = time.Unix(1000, 0)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	return v
}

// lowerWins is what reading a document must keep: of keys equal once
// lower-cased, only the lower-case one.
func lowerWins(t *testing.T, b []byte) any {
	v := parseJSON(t, b).(map[string]any)
	for _, sec := range v {
		entries, ok := sec.(map[string]any)
		if !ok {
			continue
		}
		for k := range entries {
			if lk := strings.ToLower(k); lk != k {
				if _, ok := entries[lk]; ok {
					delete(entries, k)
				}
			}
		}
	}
	return v
}

func TestUnmarshalMSAL_fixturesRoundTrip(t *testing.T) {
	for _, name := range []string{
		"serialized_cache_1.1.1.json",
		"test_serialized_cache.json",
		"v1.0_cache.json",
		"v1.0_v1.1_cache.json",
	} {
		t.Run(name, func(t *testing.T) {
			in := readFixture(t, name)
			c := New()
			if err := c.UnmarshalMSAL(in); err != nil {
				t.Fatalf("UnmarshalMSAL: %v", err)
			}
			out, err := c.MarshalMSAL()
			if err != nil {
				t.Fatalf("MarshalMSAL: %v", err)
			}
			want := lowerWins(t, in)
			got := parseJSON(t, out)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the document\n got: %s\nwant: %s", out, mustJSON(want))
			}
			// A second trip is stable byte for byte.
			c2 := New()
			if err := c2.UnmarshalMSAL(out); err != nil {
				t.Fatal(err)
			}
			out2, err := c2.MarshalMSAL()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, out2) {
				t.Errorf("second round trip differs:\n%s\n%s", out, out2)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestUnmarshalMSAL_fixturesServeTokens(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		file, secret, idToken, username string
	}{
		{"test_serialized_cache.json", "an access token", "header.eyJvaWQiOiAib2JqZWN0MTIzNCIsICJwcmVmZXJyZWRfdXNlcm5hbWUiOiAiSm9obiBEb2UiLCAic3ViIjogInN1YiJ9.signature", "John Doe"},
		{"v1.0_cache.json", "an access token", "header.eyJvaWQiOiAib2JqZWN0MTIzNCIsICJwcmVmZXJyZWRfdXNlcm5hbWUiOiAiSm9obiBEb2UiLCAic3ViIjogInN1YiJ9.signature", "John Doe"},
		// The mixed-case duplicates hold "wrong value": the lower-case keys win.
		{"v1.0_v1.1_cache.json", "an access token", "header.eyJvaWQiOiAib2JqZWN0MTIzNCIsICJwcmVmZXJyZWRfdXNlcm5hbWUiOiAiSm9obiBEb2UiLCAic3ViIjogInN1YiJ9.signature", "John Doe"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c := New()
			if err := c.UnmarshalMSAL(readFixture(t, tt.file)); err != nil {
				t.Fatal(err)
			}
			q := AccessTokenQuery{
				Environment: "login.microsoftonline.com", // an alias of the cached login.windows.net
				Realm:       "contoso", ClientID: "my_client_id", HomeAccountID: "uid.utid",
				Scopes: []string{"S1", "s3"}, CaseInsensitiveScopes: true,
			}
			at, ok := c.AccessToken(ctx, q, fixtureTime)
			if !ok || at.Secret != tt.secret {
				t.Fatalf("AccessToken = %q, %v; want %q", at.Secret, ok, tt.secret)
			}
			if got := at.CachedAt.Unix(); got != 1000 {
				t.Errorf("CachedAt = %d, want 1000 (read from a string)", got)
			}
			rt, ok := c.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: "my_client_id", HomeAccountID: "uid.utid"})
			if !ok || rt.Secret != "a refresh token" {
				t.Errorf("RefreshToken = %q, %v", rt.Secret, ok)
			}
			idt, ok := c.IDToken(ctx, IDTokenQuery{Environment: "login.windows.net", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: "uid.utid"})
			if !ok || idt.Secret != tt.idToken {
				t.Errorf("IDToken = %q, %v", idt.Secret, ok)
			}
			accts := c.Accounts(ctx, AccountFilter{Username: "john doe"})
			if len(accts) != 1 || accts[0].LocalAccountID != "object1234" || accts[0].AuthorityType != AuthorityTypeMSSTS {
				t.Errorf("Accounts = %+v", accts)
			}
			// At 4600 - 360 (lifetime 3600 s, margin 5 min) the token is no
			// longer served.
			if _, ok := c.AccessToken(ctx, q, time.Unix(4600-300, 0)); ok {
				t.Error("token served inside its last 5 minutes")
			}
		})
	}
}

func TestUnmarshalMSAL_msalGo111(t *testing.T) {
	ctx := context.Background()
	c := New()
	if err := c.UnmarshalMSAL(readFixture(t, "serialized_cache_1.1.1.json")); err != nil {
		t.Fatal(err)
	}
	const home = "597f86cd-13f3-44c0-bece-a1e77ba43228.f645ad92-e38d-4d1a-b510-d1b09a74a8ca"
	const client = "4b0db8c2-9f26-4417-8bde-3f0e3656f8e0"
	now := time.Unix(1693251452+60, 0)
	at, ok := c.AccessToken(ctx, AccessTokenQuery{
		Environment: "login.windows.net", Realm: "organizations", ClientID: client, HomeAccountID: home,
		Scopes:                []string{"https://graph.windows.net/user.read", "https://graph.windows.net/.default"},
		CaseInsensitiveScopes: true,
	}, now)
	if !ok || at.Secret != "secret" {
		t.Fatalf("AccessToken = %v, %v", at, ok)
	}
	// The stored target says User.Read; exact matching (non-Entra rule)
	// does not find user.read.
	if _, ok := c.AccessToken(ctx, AccessTokenQuery{
		Environment: "login.windows.net", Realm: "organizations", ClientID: client, HomeAccountID: home,
		Scopes: []string{"https://graph.windows.net/user.read"},
	}, now); ok {
		t.Error("exact scope matching found a differently cased scope")
	}
	idt, ok := c.IDToken(ctx, IDTokenQuery{Environment: "login.microsoftonline.com", Realm: "organizations", ClientID: client, HomeAccountID: home})
	if !ok || idt.CredentialType != "IDToken" {
		t.Errorf("IDToken credential type = %q, %v; want the IDToken spelling kept", idt.CredentialType, ok)
	}
	if st := c.Stats(); st.Entries != 4 || st.Partitions != 1 {
		t.Errorf("Stats = %+v, want 4 entries in 1 partition", st)
	}
}

func TestUnmarshalMSAL_replacesContents(t *testing.T) {
	ctx := context.Background()
	c := New()
	if err := c.StoreResponse(ctx, Response{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"s"}, AccessToken: "old", ExpiresOn: fixtureTime.Add(time.Hour)}, fixtureTime); err != nil {
		t.Fatal(err)
	}
	if err := c.UnmarshalMSAL(readFixture(t, "test_serialized_cache.json")); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"s"}}, fixtureTime); ok {
		t.Error("an entry from before UnmarshalMSAL survived it")
	}
	if st := c.Stats(); st.Entries != 4 {
		t.Errorf("Entries = %d, want the fixture's 4", st.Entries)
	}
}

func TestUnmarshalMSAL_broken(t *testing.T) {
	tests := []struct {
		name, in string
		err      bool
		entries  int // kept, usable or not
	}{
		{"not JSON", `{"AccessToken":`, true, 0},
		{"array", `[]`, true, 0},
		{"string", `"x"`, true, 0},
		{"trailing data", `{} {}`, true, 0},
		{"section not an object", `{"AccessToken":[1,2]}`, true, 0},
		{"section a string", `{"RefreshToken":"x"}`, true, 0},
		{"empty input", ``, false, 0},
		{"whitespace", " \n\t", false, 0},
		{"null", `null`, false, 0},
		{"null section", `{"AccessToken":null}`, false, 0},
		{"entry not an object", `{"AccessToken":{"k":5}}`, false, 0},
		{"entry without secret", `{"AccessToken":{"k":{"client_id":"c","environment":"e"}}}`, false, 0},
		{"secret of the wrong type", `{"AccessToken":{"k":{"client_id":"c","environment":"e","secret":7}}}`, false, 0},
		{"timestamp not a number", `{"AccessToken":{"k":{"client_id":"c","environment":"e","secret":"s","expires_on":"soon"}}}`, false, 1},
		{"timestamp negative", `{"AccessToken":{"k":{"client_id":"c","environment":"e","secret":"s","expires_on":"-5"}}}`, false, 1},
		{"timestamp huge", `{"AccessToken":{"k":{"client_id":"c","environment":"e","secret":"s","expires_on":"99999999999999999999"}}}`, false, 1},
		{"unknown section of any type", `{"Other":[1,{"a":null}],"AccessToken":{}}`, false, 0},
		{"UTF-8 BOM", "\xEF\xBB\xBF{\"AccessToken\":{\"k\":{\"client_id\":\"c\",\"environment\":\"e\",\"secret\":\"s\"}}}", false, 1},
		{"UTF-8 BOM twice", "\xEF\xBB\xBF\xEF\xBB\xBF{}", true, 0},
		{"UTF-16 BOM", "\xFE\xFF\x00{\x00}", true, 0},
		{"empty arrays as sections", `{"AccessToken":[],"RefreshToken":[ ],"IdToken":[` + "\n" + `],"Account":[],"AppMetadata":[]}`, false, 0},
		{"invalid UTF-8", "{\"Other\":\"\xff\"}", true, 0},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", true, 0},
		{"lone high surrogate", `{"Other":"\ud800"}`, true, 0},
		{"lone low surrogate", `{"Other":"\udc00"}`, true, 0},
		{"surrogates in the wrong order", `{"Other":"\udc00\ud800"}`, true, 0},
		{"high surrogate then another escape", `{"Other":"\ud800\n"}`, true, 0},
		{"a field given twice: the last counts", `{"AccessToken":{"k":{"client_id":"c","environment":"","environment":"e","secret":"s","secret":7}}}`, false, 0},
		{"entry under the empty key", `{"AccessToken":{"":{"client_id":"c","environment":"e","secret":"s"}}}`, false, 0},
		{"surrogate pair", `{"Other":"\ud83d\ude00 \\ud800 \u00e9"}`, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New()
			if err := c.StoreResponse(context.Background(), Response{Environment: "e", Realm: "t", ClientID: "keep", Scopes: []string{"s"}, AccessToken: "kept", ExpiresOn: fixtureTime.Add(time.Hour)}, fixtureTime); err != nil {
				t.Fatal(err)
			}
			err := c.UnmarshalMSAL([]byte(tt.in))
			if tt.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if c.Stats().Entries != 1 {
					t.Error("a failed UnmarshalMSAL changed the cache")
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c.Stats().Entries != tt.entries {
				t.Errorf("Entries = %d, want %d", c.Stats().Entries, tt.entries)
			}
			// What was read comes back out, meaning for meaning.
			out, err := c.MarshalMSAL()
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(tt.in) != "" && tt.in != "null" {
				got := parseJSON(t, out).(map[string]any)
				for k, v := range parseJSON(t, bytes.TrimPrefix([]byte(tt.in), []byte("\xEF\xBB\xBF"))).(map[string]any) {
					if v == nil || reflect.DeepEqual(v, []any{}) {
						continue // an empty section
					}
					if !reflect.DeepEqual(got[k], v) {
						t.Errorf("section %s = %v, want %v", k, got[k], v)
					}
				}
			}
			// Nothing here is ever served (and unusable tokens met go).
			if at, ok := c.AccessToken(context.Background(), AccessTokenQuery{Environment: "e", ClientID: "c", Scopes: []string{"s"}}, fixtureTime); ok {
				t.Errorf("served %v", at)
			}
		})
	}
}

func TestUnmarshalMSAL_errorsDoNotQuoteInput(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.sig"
	for _, in := range []string{
		`{"AccessToken":{"k":{"secret":"` + secret + `"`,
		`["` + secret + `"]`,
		`{"AccessToken":"` + secret + `"}`,
	} {
		err := New().UnmarshalMSAL([]byte(in))
		if err == nil {
			t.Fatalf("UnmarshalMSAL(%.20q...) succeeded", in)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("error quotes the input: %v", err)
		}
	}
}

func TestUnmarshalMSAL_entryDetails(t *testing.T) {
	ctx := context.Background()
	in := `{
	  "AccessToken": {
	    "python-style-key": {
	      "credential_type": "AccessToken", "secret": "py", "home_account_id": null,
	      "environment": "login.microsoftonline.com", "client_id": "c", "target": "s1 s2",
	      "realm": "t", "token_type": "Bearer", "cached_at": 1000, "expires_on": "5000",
	      "extended_expires_on": "9000", "key_id": "kid-1", "custom": {"nested": [1, 2]}
	    },
	    "net-pop": {
	      "credential_type": "AccessToken_With_AuthScheme", "secret": "pop", "environment": "login.windows.net",
	      "client_id": "c", "target": "s1", "realm": "t", "token_type": "pop", "keyid": "kid-2",
	      "cached_at": "1000", "expires_on": "5000"
	    }
	  },
	  "RefreshToken": {
	    "foci": {"credential_type": "RefreshToken", "secret": "family-rt", "home_account_id": "h", "environment": "login.windows.net", "client_id": "other", "family_id": "1", "last_modification_time": "1000"}
	  },
	  "AppMetadata": {
	    "appmetadata-login.windows.net-c": {"client_id": "c", "environment": "login.windows.net", "family_id": "1"}
	  }
	}`
	c := New()
	if err := c.UnmarshalMSAL([]byte(in)); err != nil {
		t.Fatal(err)
	}
	at, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.windows.net", Realm: "t", ClientID: "c", Scopes: []string{"s2"}, KeyID: "kid-1"}, fixtureTime)
	if !ok || at.Secret != "py" {
		t.Fatalf("python-style entry: %v %v", at, ok)
	}
	if at.CachedAt.Unix() != 1000 || at.ExpiresOn.Unix() != 5000 || at.ExtendedExpiresOn.Unix() != 9000 {
		t.Errorf("timestamps = %v %v %v", at.CachedAt.Unix(), at.ExpiresOn.Unix(), at.ExtendedExpiresOn.Unix())
	}
	if string(at.Extra["custom"]) != `{"nested": [1, 2]}` || string(at.Extra["home_account_id"]) != "null" {
		t.Errorf("Extra = %v", at.Extra)
	}
	pop, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"s1"}, TokenType: "PoP", KeyID: "kid-2"}, fixtureTime)
	if !ok || pop.Secret != "pop" || pop.CredentialType != CredentialTypeAccessTokenWithAuthScheme {
		t.Errorf("MSAL.NET PoP entry: %v %v", pop, ok)
	}
	// The app's metadata says family 1: the family refresh token of
	// another app serves it.
	rt, ok := c.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.microsoftonline.com", ClientID: "c", HomeAccountID: "h"})
	if !ok || rt.Secret != "family-rt" {
		t.Errorf("family RefreshToken = %v %v", rt, ok)
	}
	out, err := c.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	doc := parseJSON(t, out).(map[string]any)
	py := doc["AccessToken"].(map[string]any)["python-style-key"].(map[string]any)
	if py["cached_at"] != "1000" {
		t.Errorf("cached_at written as %#v, want the string \"1000\"", py["cached_at"])
	}
	if py["home_account_id"] != nil || py["key_id"] != "kid-1" || py["keyid"] != "kid-1" {
		t.Errorf("written entry = %v", py)
	}
	if _, ok := doc["RefreshToken"].(map[string]any)["foci"].(map[string]any)["last_modification_time"]; !ok {
		t.Error("an unknown refresh token field was lost")
	}
}

// TestUnmarshalMSAL_nodeOnBehalfOfToken: MSAL Node writes the assertion
// hash of an on-behalf-of token as userAssertionHash, and no home account.
// Read, the token stays with the user's assertion: it must never pass for
// the app's own token (client credentials) of the same scope. Written
// back, MSAL Node's field is still there.
func TestUnmarshalMSAL_nodeOnBehalfOfToken(t *testing.T) {
	ctx := context.Background()
	in := `{"AccessToken":{"-login.microsoftonline.com-accesstoken-c-t-api://x/.default--":{
	  "home_account_id":"","environment":"login.microsoftonline.com","credential_type":"AccessToken","client_id":"c",
	  "secret":"user-delegated","realm":"t","target":"api://x/.default","cached_at":"1000","expires_on":"5000",
	  "token_type":"Bearer","userAssertionHash":"bm9kZS1oYXNo"}}}`
	c := New()
	if err := c.UnmarshalMSAL([]byte(in)); err != nil {
		t.Fatal(err)
	}
	app := AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "t", ClientID: "c", Scopes: []string{"api://x/.default"}}
	if at, ok := c.AccessToken(ctx, app, fixtureTime); ok {
		t.Fatalf("a user's on-behalf-of token served as the app's own: %q", at.Secret)
	}
	obo := app
	obo.UserAssertionHash = "bm9kZS1oYXNo"
	if at, ok := c.AccessToken(ctx, obo, fixtureTime); !ok || at.Secret != "user-delegated" {
		t.Errorf("on-behalf-of lookup = %q, %v", at.Secret, ok)
	}
	out, err := c.MarshalMSAL()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"userAssertionHash":"bm9kZS1oYXNo"`, `"user_assertion_hash":"bm9kZS1oYXNo"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("written without %s: %s", want, out)
		}
	}
}

// TestUnmarshalMSAL_keyIDSpellings: MSAL Python reads key_id, MSAL Go
// keyid. When a document holds both and they differ, key_id is the key
// (whatever the order), and both are written back as they were.
func TestUnmarshalMSAL_keyIDSpellings(t *testing.T) {
	ctx := context.Background()
	for _, in := range []string{
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","realm":"t","target":"s1","token_type":"pop","keyid":"go","key_id":"python","expires_on":"5000"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","realm":"t","target":"s1","token_type":"pop","key_id":"python","keyid":"go","expires_on":"5000"}}}`,
	} {
		c := New()
		if err := c.UnmarshalMSAL([]byte(in)); err != nil {
			t.Fatal(err)
		}
		q := AccessTokenQuery{Environment: "e", Realm: "t", ClientID: "c", Scopes: []string{"s1"}, TokenType: "pop", KeyID: "python"}
		if _, ok := c.AccessToken(ctx, q, fixtureTime); !ok {
			t.Errorf("%s: not found by key_id", in)
		}
		out, err := c.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"key_id":"python"`)) || !bytes.Contains(out, []byte(`"keyid":"go"`)) {
			t.Errorf("written back as %s", out)
		}
	}
}

func TestLastOfEach(t *testing.T) {
	kv := func(names ...string) []rawKV {
		var out []rawKV
		for i, n := range names {
			out = append(out, rawKV{n, json.RawMessage(fmt.Sprint(i))})
		}
		return out
	}
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprint("f", i%20)
	}
	for _, tt := range []struct {
		in   []rawKV
		want []rawKV
	}{
		{nil, nil},
		{kv("a", "b"), kv("a", "b")},
		{kv("a", "a"), []rawKV{{"a", json.RawMessage("1")}}},
		{kv("a", "b", "a", "c", "b"), []rawKV{{"a", json.RawMessage("2")}, {"c", json.RawMessage("3")}, {"b", json.RawMessage("4")}}},
		{kv(many...), kv(many...)[20:]},
	} {
		if got := lastOfEach(tt.in); !reflect.DeepEqual(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("lastOfEach(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
