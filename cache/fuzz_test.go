package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func FuzzUnmarshalMSAL(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(append([]byte("\xEF\xBB\xBF"), b...)) // as PowerShell 5.1 saves it
	}
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"AccessToken":null}`, `{"AccessToken":{"k":5}}`,
		`{"AccessToken":{"K":{"secret":"a","client_id":"c","environment":"e","expires_on":"9"},"k":{"secret":"b","client_id":"c","environment":"e"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"login.microsoftonline.com","target":"a b","cached_at":1,"expires_on":"99999999999","key_id":"x","keyid":"y","token_type":"pop"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","keyid":"y","key_id":7}}}`,
		`{"RefreshToken":{"k":{"secret":"s","client_id":"c","environment":"e","home_account_id":"h","family_id":"1"}},"AppMetadata":{"a":{"client_id":"c","environment":"e","family_id":"1"}}}`,
		`{"Account":{"k":{"home_account_id":"h","environment":"e","username":null}},"X":{"y":[1,2,{"z":true}]}}`,
		// What MSAL libraries and the tools around them leave.
		"\xEF\xBB\xBF{\"AppMetadata\":{}}",
		"\xEF\xBB\xBF",
		`{"AccessToken":[],"RefreshToken":[ ],"IdToken":null,"Account":[],"AppMetadata":[]}`,
		`{"AppMetadata":[],"RefreshToken":{"k":{"secret":"s","client_id":"c","environment":"e","home_account_id":"h"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","userAssertionHash":"aGFzaA","home_account_id":"","tenants":[{"a":1}]}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","expires_on":1700003600,"cached_at":1.7e9,"refresh_on":"","extended_expires_on":"-1"}}}`,
		`{"AccessToken":{"k":{"secret":"s","client_id":"c","environment":"e","target":["a"],"realm":7}},"accesstoken":{},"n":1e999}`,
		`{"Account":{"k":{"home_account_id":"h","environment":"e","username":"j\u00f6rg\u2028<&>\ud83d\ude00"}}}`,
		// What must be refused.
		"{\"RefreshToken\":{\"k\":{\"secret\":\"s\xff\",\"client_id\":\"c\",\"environment\":\"e\",\"home_account_id\":\"h\"}}}",
		`{"RefreshToken":{"k":{"secret":"s\ud800","client_id":"c","environment":"e","home_account_id":"h"}}}`,
		`{"RefreshToken":{"k":{"secret":"s\udc00\ud800","client_id":"c","environment":"e","home_account_id":"h"}}}`,
		`[{"AccessToken":{}}]`, `"x"`, `42`, `{"AccessToken":[{}]}`, `{"RefreshToken":"x"}`,
		`{"AccessToken":{},}`, `{} {}`, "{}\x00\x00", `// c` + "\n{}", `{"AccessToken":{"k":{"secret":"s"`,
		"\xFF\xFE{\x00}\x00",
		`{"deep":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		d1, derr := decodeDocument(data)
		c := New()
		err := c.UnmarshalMSAL(data)
		if (err == nil) != (derr == nil) {
			t.Fatalf("UnmarshalMSAL = %v, decodeDocument = %v", err, derr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			// A stored document that does not decode is never written
			// over, whatever writes to its partition.
			store := NewMemoryStore()
			seed := func([]byte) ([]byte, error) { return data, nil }
			if err := store.Update(ctx, "h", seed); err != nil {
				t.Fatal(err)
			}
			w := New(WithStore(store), WithLogger(slog.New(slog.DiscardHandler)))
			if err := w.StoreResponse(ctx, fuzzWrite(), fixtureTime); err != nil {
				t.Fatal(err)
			}
			if err := w.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id"); !errors.Is(err, ErrMalformed) {
				t.Fatalf("RemoveAccount over a malformed document = %v, want ErrMalformed", err)
			}
			if stored, _ := store.Load(ctx, "h"); !bytes.Equal(stored, data) {
				t.Fatalf("a stored document that does not decode was overwritten:\n%q\n%q", data, stored)
			}
			return
		}

		// Round trip: decode, encode, decode gives the same entries, unusable
		// entries and unknown sections, meaning for meaning.
		enc, err := d1.encode()
		if err != nil {
			t.Fatalf("encode after a successful decode: %v", err)
		}
		d2, err := decodeDocument(enc)
		if err != nil {
			t.Fatalf("encode wrote what decode rejects: %v\n%s", err, enc)
		}
		if a, b := snapshotOf(t, d1), snapshotOf(t, d2); !reflect.DeepEqual(a, b) {
			t.Fatalf("decode → encode → decode changed the document:\n%+v\n%+v\n%s", a, b, enc)
		}

		out, err := c.MarshalMSAL()
		if err != nil {
			t.Fatalf("MarshalMSAL after a successful UnmarshalMSAL: %v", err)
		}
		d, err := decodeDocument(out)
		if err != nil {
			t.Fatalf("MarshalMSAL wrote what UnmarshalMSAL rejects: %v\n%s", err, out)
		}
		if n := len(d.ats) + len(d.rts) + len(d.idts) + len(d.accts); n != c.Stats().Entries {
			t.Fatalf("MarshalMSAL wrote %d entries, Stats says %d", n, c.Stats().Entries)
		}
		c2 := New()
		if err := c2.UnmarshalMSAL(out); err != nil {
			t.Fatal(err)
		}
		out2, err := c2.MarshalMSAL()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
		// Every entry read can be looked up without trouble.
		for _, e := range d.ats {
			c.AccessToken(ctx, AccessTokenQuery{Environment: e.v.Environment, Realm: e.v.Realm, ClientID: e.v.ClientID,
				HomeAccountID: e.v.HomeAccountID, UserAssertionHash: e.v.UserAssertionHash, Scopes: e.v.Scopes(),
				TokenType: e.v.TokenType, KeyID: e.v.KeyID}, fixtureTime)
		}
		for _, e := range d.rts {
			c.RefreshToken(ctx, RefreshTokenQuery{Environment: e.v.Environment, ClientID: e.v.ClientID, HomeAccountID: e.v.HomeAccountID, UserAssertionHash: e.v.UserAssertionHash})
		}
		c.Accounts(ctx, AccountFilter{})
		c.Sweep(fixtureTime)

		// A stored partition holding the same document takes a write and
		// keeps what the write does not replace, then takes a removal.
		store := NewMemoryStore()
		seed := func([]byte) ([]byte, error) { return data, nil }
		if err := store.Update(ctx, "h", seed); err != nil {
			t.Fatal(err)
		}
		w := New(WithStore(store))
		if err := w.StoreResponse(ctx, fuzzWrite(), fixtureTime); err != nil {
			t.Fatal(err)
		}
		stored, _ := store.Load(ctx, "h")
		after, err := decodeDocument(stored)
		if err != nil {
			t.Fatalf("write-through stored what cannot be read: %v", err)
		}
		keptThrough(t, d1, after)
		if err := w.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id"); err != nil {
			t.Fatal(err)
		}
		if _, ok := New(WithStore(store)).RefreshToken(ctx, RefreshTokenQuery{Environment: "login.windows.net", ClientID: "my_client_id", HomeAccountID: "h"}); ok {
			t.Fatal("a removed account's refresh token is still stored")
		}
	})
}

// fuzzWrite is the response the fuzz target writes into partition "h".
func fuzzWrite() Response {
	return Response{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_client_id", HomeAccountID: "h",
		Scopes: []string{"s1", "openid"}, AccessToken: "at", ExpiresOn: fixtureTime.Add(time.Hour), RefreshToken: "rt", FamilyID: "1",
		IDToken: "idt", Account: &Account{Username: "u"}}
}

// docSnapshot is a decoded document in a form to compare: every entry by
// section and key, JSON kept verbatim written as encoding/json writes it.
type docSnapshot map[string]map[string]any

func canonJSON(t *testing.T, v json.RawMessage) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("kept JSON is not JSON: %v", err)
	}
	return string(b)
}

func canonExtra(t *testing.T, m map[string]json.RawMessage) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = canonJSON(t, v)
	}
	return out
}

func snapshotOf(t *testing.T, d *document) docSnapshot {
	s := docSnapshot{}
	put := func(section, key string, v any) {
		if s[section] == nil {
			s[section] = map[string]any{}
		}
		if _, dup := s[section][key]; dup {
			t.Fatalf("two entries of %s under %q", section, key)
		}
		s[section][key] = v
	}
	type withExtra struct {
		V     any
		Extra map[string]string
	}
	for _, e := range d.ats {
		v := e.v
		x := canonExtra(t, v.Extra)
		v.Extra = nil
		put(sectionAccessToken, e.key, withExtra{v, x})
	}
	for _, e := range d.rts {
		v := e.v
		x := canonExtra(t, v.Extra)
		v.Extra = nil
		put(sectionRefreshToken, e.key, withExtra{v, x})
	}
	for _, e := range d.idts {
		v := e.v
		x := canonExtra(t, v.Extra)
		v.Extra = nil
		put(sectionIDToken, e.key, withExtra{v, x})
	}
	for _, e := range d.accts {
		v := e.v
		x := canonExtra(t, v.Extra)
		v.Extra = nil
		put(sectionAccount, e.key, withExtra{v, x})
	}
	for _, e := range d.meta {
		v := e.v
		x := canonExtra(t, v.Extra)
		v.Extra = nil
		put(sectionAppMetadata, e.key, withExtra{v, x})
	}
	for section, kvs := range d.opaque {
		for _, kv := range kvs {
			put(section, kv.key, canonJSON(t, kv.val))
		}
	}
	for _, kv := range d.unknown {
		put("unknown sections", kv.key, canonJSON(t, kv.val))
	}
	return s
}

// keptThrough checks that a write of fuzzWrite into a stored document kept
// what it does not replace: the unknown sections, and every entry of
// another identity or another app (fuzzWrite replaces only entries of
// client my_client_id, its family "1", and user h's account in realm
// contoso).
func keptThrough(t *testing.T, before, after *document) {
	want, got := snapshotOf(t, before), snapshotOf(t, after)
	for section, entries := range want {
		for key, v := range entries {
			if section != "unknown sections" && !survivesFuzzWrite(before, section, key) {
				continue
			}
			if g, ok := got[section][key]; !ok || !reflect.DeepEqual(g, v) {
				t.Fatalf("the write lost %s %q:\nwas %+v\nnow %+v", section, key, v, g)
			}
		}
	}
}

// survivesFuzzWrite reports whether fuzzWrite leaves the entry of section
// under key alone: it is of another client and family, or of another user
// (StoreResponse's replacement rules), and its key, lower-cased, is not
// the key of an entry the write adds.
func survivesFuzzWrite(d *document, section, key string) bool {
	w := fuzzWrite()
	ch, _ := w.entries(fixtureTime)
	for _, k := range []string{ch.at.Key(), ch.rt.Key(), ch.idt.Key(), ch.acct.Key(), ch.meta.Key()} {
		if strings.EqualFold(k, key) {
			return false
		}
	}
	env := canonEnv(w.Environment)
	switch section {
	case sectionAccessToken:
		for _, e := range d.ats {
			if e.key == key {
				return e.v.ClientID != w.ClientID || canonEnv(e.v.Environment) != env
			}
		}
	case sectionRefreshToken:
		for _, e := range d.rts {
			if e.key == key {
				return !rtReplaces(ch.rt, env, &e.v, canonEnv(e.v.Environment))
			}
		}
	case sectionIDToken:
		for _, e := range d.idts {
			if e.key == key {
				return !idtReplaces(ch.idt, env, &e.v, canonEnv(e.v.Environment))
			}
		}
	case sectionAccount:
		for _, e := range d.accts {
			if e.key == key {
				return !acctReplaces(ch.acct, env, &e.v, canonEnv(e.v.Environment))
			}
		}
	case sectionAppMetadata:
		for _, e := range d.meta {
			if e.key == key {
				return e.v.ClientID != w.ClientID || canonEnv(e.v.Environment) != env
			}
		}
	}
	return true // an unusable entry: only a colliding key replaces it
}
