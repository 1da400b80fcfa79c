package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"
)

// The stored documents of these tests are a user partition ("uid.utid")
// that another app ("other_client", written by another MSAL) shares. A
// write by this package (client "bearer_app", tenant "fabrikam") replaces
// none of its entries, so everything stored before must be stored after.

const storedUser = "uid.utid"

// storedSecrets are the secrets of storedSections: no log line may hold one.
var storedSecrets = []string{"other-at", "other-rt", "other-idt"}

type member struct{ name, body string }

// storedSections is the document as MSAL Go, MSAL Python and MSAL.NET
// write it, with an unknown section and unknown fields.
func storedSections() []member {
	return []member{
		{"AccessToken", `{"uid.utid-login.windows.net-accesstoken-other_client-contoso-user.read":{"credential_type":"AccessToken","secret":"other-at","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":"user.read","realm":"contoso","token_type":"Bearer","cached_at":"1700000000","expires_on":"1700003600","extended_expires_on":"1700007200","custom_field":{"nested":[1,"two",null,true]}}}`},
		{"RefreshToken", `{"uid.utid-login.windows.net-refreshtoken-other_client--":{"credential_type":"RefreshToken","secret":"other-rt","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":"","last_modification_time":"1700000000"}}`},
		{"IdToken", `{"uid.utid-login.windows.net-idtoken-other_client-contoso-":{"credential_type":"IdToken","secret":"other-idt","home_account_id":"uid.utid","environment":"login.windows.net","realm":"contoso","client_id":"other_client"}}`},
		{"Account", `{"uid.utid-login.windows.net-contoso":{"home_account_id":"uid.utid","environment":"login.windows.net","realm":"contoso","local_account_id":"oid","username":"user@contoso.com","authority_type":"MSSTS","account_source":"authorization_code"}}`},
		{"AppMetadata", `{"appmetadata-login.windows.net-other_client":{"client_id":"other_client","environment":"login.windows.net","family_id":null}}`},
		{"unknownEntity", `{"field1":"1","field2":[true,false]}`},
	}
}

// docOf writes members as a JSON object, in order.
func docOf(members []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", m.name, m.body)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// storedWith is storedSections with the named member's body replaced (or
// appended when there is none).
func storedWith(name, body string) []member {
	ms := storedSections()
	for i := range ms {
		if ms[i].name == name {
			ms[i].body = body
			return ms
		}
	}
	return append(ms, member{name, body})
}

func storedDoc() []byte { return docOf(storedSections()) }

// bearerWrite is what this package writes into the shared partition: a new
// app of the same user, in another tenant, so it replaces nothing stored.
func bearerWrite() Response {
	return Response{
		Environment: "login.microsoftonline.com", Realm: "fabrikam", ClientID: "bearer_app", HomeAccountID: storedUser,
		Scopes: []string{"Mail.Read"}, AccessToken: "bearer-at", ExpiresOn: t0.Add(time.Hour),
		RefreshToken: "bearer-rt", IDToken: "bearer-idt", Account: &Account{Username: "user@fabrikam.com"},
	}
}

func indentCRLF(t *testing.T, doc []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "    "); err != nil {
		t.Fatal(err)
	}
	return append(bytes.ReplaceAll(b.Bytes(), []byte("\n"), []byte("\r\n")), "\r\n"...)
}

func utf16LE(s string) []byte {
	out := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// largeDoc is the stored document with n more access tokens of other apps
// and an unknown section holding a value of size bytes.
func largeDoc(n, size int) []byte {
	ms := storedSections()
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(ms[0].body, "}"))
	for i := range n {
		fmt.Fprintf(&b, `,"uid.utid-login.windows.net-accesstoken-app%d-contoso-s%d":{"credential_type":"AccessToken","secret":"at-%d","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"app%d","target":"s%d","realm":"contoso","cached_at":"1700000000","expires_on":"1700003600"}`, i, i, i, i, i)
	}
	b.WriteString("}")
	ms[0].body = b.String()
	ms = append(ms, member{"bulk", `"` + strings.Repeat("x", size) + `"`})
	return docOf(ms)
}

type storedCase struct {
	name string
	doc  []byte
	// refused: the document does not decode, so no write may replace it.
	refused bool
	// otherRT: other_client's refresh token is stored and usable.
	otherRT bool
}

func storedCases(t *testing.T) []storedCase {
	base := storedDoc()
	bom := "\xEF\xBB\xBF"
	cases := []storedCase{
		{name: "MSAL Go: compact", doc: base, otherRT: true},
		{name: "MSAL Python: json.dumps indent=4", doc: bytes.ReplaceAll(indentCRLF(t, base), []byte("\r\n"), []byte("\n")), otherRT: true},
		{name: "UTF-8 BOM", doc: append([]byte(bom), base...), otherRT: true},
		{name: "UTF-8 BOM, CRLF and indentation (PowerShell 5.1 Out-File -Encoding utf8)", doc: append([]byte(bom), indentCRLF(t, base)...), otherRT: true},
		{name: "only some sections (MSAL Python writes those it used)", doc: docOf(storedSections()[1:2]), otherRT: true},
		{name: "unknown top-level keys of every JSON type", doc: docOf(append(storedSections(),
			member{"aString", `"x"`}, member{"aNumber", `1.5e300`}, member{"anArray", `[{"a":[]},[],{}]`},
			member{"aFalse", `false`}, member{"aNull", `null`}, member{"accesstoken", `{"k":{"secret":"lower-case section"}}`})), otherRT: true},
		{name: "unknown fields in entries (MSAL Node tenants and requestedClaims, MSAL.NET ext_expires_on)", doc: docOf(storedWith("Account",
			`{"uid.utid-login.windows.net-contoso":{"home_account_id":"uid.utid","environment":"login.windows.net","realm":"contoso","local_account_id":"oid","username":"user@contoso.com","authority_type":"MSSTS","tenants":[{"tenantId":"contoso","localAccountId":"oid","isHomeTenant":true}],"last_modification_time":"1700000000","last_modification_app":"node"}}`)), otherRT: true},
		{name: "MSAL Node on-behalf-of access token (camelCase userAssertionHash)", doc: docOf(storedWith("AccessToken",
			`{"-login.windows.net-accesstoken-other_client-contoso-api://x/.default--":{"home_account_id":"","environment":"login.windows.net","credential_type":"AccessToken","client_id":"other_client","secret":"other-at","realm":"contoso","target":"api://x/.default","cached_at":"1700000000","expires_on":"1700003600","extended_expires_on":"1700003600","token_type":"Bearer","userAssertionHash":"Zm9vYmFy","requestedClaims":"{\"a\":1}","requestedClaimsHash":"aGFzaA"}}`)), otherRT: true},
		{name: "MSAL.NET proof-of-possession token (keyid and key_id that differ)", doc: docOf(storedWith("AccessToken",
			`{"k":{"credential_type":"AccessToken_With_AuthScheme","secret":"other-at","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":"user.read","realm":"contoso","token_type":"pop","keyid":"kid-go","key_id":"kid-python","cached_at":"1700000000","expires_on":"1700003600"}}`)), otherRT: true},
		{name: "timestamps as JSON numbers", doc: docOf(storedWith("AccessToken",
			`{"k":{"credential_type":"AccessToken","secret":"other-at","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":"user.read","realm":"contoso","cached_at":1700000000,"expires_on":1700003600,"extended_expires_on":1700007200,"refresh_on":1700001800}}`)), otherRT: true},
		{name: "timestamps that are not whole seconds", doc: docOf(storedWith("AccessToken",
			`{"k":{"credential_type":"AccessToken","secret":"other-at","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":"user.read","realm":"contoso","cached_at":1.7e9,"expires_on":"1700003600.5","extended_expires_on":"","refresh_on":"-1"}}`)), otherRT: true},
		{name: "known fields of the wrong type", doc: docOf(storedWith("AccessToken",
			`{"k":{"credential_type":"AccessToken","secret":"other-at","home_account_id":"uid.utid","environment":"login.windows.net","client_id":"other_client","target":["user.read"],"realm":7,"token_type":false,"cached_at":{},"expires_on":"1700003600"}}`)), otherRT: true},
		{name: "entries that are not objects or lack a secret", doc: docOf(storedWith("IdToken",
			`{"a":5,"b":[],"c":null,"d":{"client_id":"other_client","environment":"login.windows.net"},"e":"string"}`)), otherRT: true},
		{name: "escapes and non-ASCII text", doc: docOf(storedWith("Account",
			`{"uid.utid-login.windows.net-contoso":{"home_account_id":"uid.utid","environment":"login.windows.net","realm":"contoso","username":"j\u00f6rg\u2028<&>\"\\\/\ud83d\ude00","name":"Jörg 😀"}}`)), otherRT: true},
		{name: "empty input", doc: []byte{}},
		{name: "white space", doc: []byte(" \r\n\t")},
		{name: "null", doc: []byte("null")},
		{name: "empty object", doc: []byte("{}")},
		{name: "a UTF-8 BOM alone", doc: []byte(bom)},
		{name: "large: 5,000 more access tokens and a 1 MiB unknown value", doc: largeDoc(5000, 1<<20), otherRT: true},

		{name: "truncated", doc: base[:len(base)/2], refused: true},
		{name: "truncated after the last entry", doc: base[:len(base)-1], refused: true},
		{name: "invalid UTF-8 in a secret", doc: bytes.Replace(base, []byte(`"other-rt"`), []byte("\"other-\xff-rt\""), 1), refused: true},
		{name: "a lone UTF-16 surrogate escape in a secret", doc: bytes.Replace(base, []byte(`"other-rt"`), []byte(`"other-\ud800-rt"`), 1), refused: true},
		{name: "a JSON array at top level", doc: []byte("[" + string(base) + "]"), refused: true},
		{name: "a JSON string at top level", doc: []byte(`"x"`), refused: true},
		{name: "a JSON number at top level", doc: []byte(`42`), refused: true},
		{name: "a non-empty array as a section", doc: docOf(storedWith("AccessToken", `[{"secret":"other-at"}]`)), refused: true},
		{name: "a string as a section", doc: docOf(storedWith("RefreshToken", `"other-rt"`)), refused: true},
		{name: "an object with a trailing comma (MSAL.NET reads it)", doc: []byte(strings.TrimSuffix(string(base), "}") + ",}"), refused: true},
		{name: "two documents", doc: append(append([]byte{}, base...), base...), refused: true},
		{name: "NUL padding after a crash", doc: append(append([]byte{}, base...), 0, 0, 0, 0), refused: true},
		{name: "a comment", doc: append([]byte("// by hand\n"), base...), refused: true},
		{name: "UTF-16LE with BOM (PowerShell 5.1 Out-File)", doc: utf16LE(string(base)), refused: true},
		{name: "DPAPI-encrypted (msal-extensions on Windows)", doc: append([]byte("\x01\x00\x00\x00\xd0\x8c\x9d\xdf\x01\x15\xd1\x11\x8c\x7a\x00\xc0\x4f\xc2\x97\xeb"), base[:64]...), refused: true},
		{name: "nested deeper than the JSON decoder allows", doc: docOf(storedWith("deep", strings.Repeat("[", 10001)+strings.Repeat("]", 10001))), refused: true},
	}
	for _, s := range knownSections {
		cases = append(cases,
			storedCase{name: "empty array as " + s, doc: docOf(storedWith(s, "[ ]")), otherRT: s != sectionRefreshToken},
			storedCase{name: "null as " + s, doc: docOf(storedWith(s, "null")), otherRT: s != sectionRefreshToken},
		)
	}
	return cases
}

// TestStore_storedDocumentsSurviveAWrite: a write into a stored partition
// either keeps everything the document held (it decodes) or leaves the
// document byte for byte (it does not), and either way the token is
// cached in memory.
func TestStore_storedDocumentsSurviveAWrite(t *testing.T) {
	ctx := context.Background()
	for _, tt := range storedCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			mem := NewMemoryStore()
			seed(t, mem, storedUser, tt.doc)
			var logs bytes.Buffer
			c := New(WithStore(mem), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err := c.StoreResponse(ctx, bearerWrite(), t0); err != nil {
				t.Fatalf("StoreResponse = %v", err)
			}
			if at, ok := c.AccessToken(ctx, bearerQuery(), t0); !ok || at.Secret != "bearer-at" {
				t.Errorf("memory does not serve the token just cached: %q %v", at.Secret, ok)
			}
			stored, err := mem.Load(ctx, storedUser)
			if err != nil {
				t.Fatal(err)
			}
			if tt.refused {
				if !bytes.Equal(stored, tt.doc) {
					t.Fatalf("a document that does not decode was overwritten:\nwas %.200q\nnow %.200q", tt.doc, stored)
				}
				if !strings.Contains(logs.String(), "does not decode") || !strings.Contains(logs.String(), ErrMalformed.Error()) ||
					!strings.Contains(logs.String(), `"partition_kind":"user"`) {
					t.Errorf("log = %s, want the refused write reported", logs.String())
				}
				err := c.RemoveAccount(ctx, Account{HomeAccountID: storedUser, Environment: "login.windows.net"}, "bearer_app")
				if !errors.Is(err, ErrMalformed) || !errors.Is(err, ErrStore) {
					t.Errorf("RemoveAccount = %v, want a *StoreError wrapping ErrMalformed", err)
				}
				if after, _ := mem.Load(ctx, storedUser); !bytes.Equal(after, tt.doc) {
					t.Error("RemoveAccount overwrote a document that does not decode")
				}
			} else {
				if _, err := decodeDocument(stored); err != nil {
					t.Fatalf("the written document does not decode: %v", err)
				}
				if bytes.HasPrefix(stored, []byte("\xEF\xBB\xBF")) {
					t.Error("the written document starts with a BOM (MSAL Python cannot read one)")
				}
				assertKept(t, tt.doc, stored)
				ats := parseJSON(t, stored).(map[string]any)["AccessToken"].(map[string]any)
				if ats["uid.utid-login.microsoftonline.com-accesstoken-bearer_app-fabrikam-mail.read"] == nil {
					t.Errorf("the new token was not written: %v", ats)
				}
				if strings.Contains(logs.String(), "serving from memory") {
					t.Errorf("log = %s, want no store failure", logs.String())
				}
			}
			for _, s := range append(storedSecrets, "bearer-at", "bearer-rt", "bearer-idt") {
				if strings.Contains(logs.String(), s) {
					t.Errorf("log holds the secret %q: %s", s, logs.String())
				}
			}
			// Another process reads the partition: other_client's refresh
			// token is there for it when the document holds it.
			fresh := New(WithStore(mem), WithLogger(slog.New(slog.DiscardHandler)))
			rt, ok := fresh.RefreshToken(ctx, RefreshTokenQuery{Environment: "login.microsoftonline.com", ClientID: "other_client", HomeAccountID: storedUser})
			if want := tt.otherRT && !tt.refused; ok != want || (ok && rt.Secret != "other-rt") {
				t.Errorf("other_client's refresh token read through = %q, %v; want found = %v", rt.Secret, ok, want)
			}
		})
	}
}

func seed(t *testing.T, s Store, partition string, doc []byte) {
	t.Helper()
	if err := s.Update(context.Background(), partition, func([]byte) ([]byte, error) { return doc, nil }); err != nil {
		t.Fatal(err)
	}
}

func bearerQuery() AccessTokenQuery {
	return AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "fabrikam", ClientID: "bearer_app", HomeAccountID: storedUser, Scopes: []string{"Mail.Read"}}
}

// parseStored parses a stored document as a reader that strips a BOM does,
// numbers kept as written.
func parseStored(t *testing.T, doc []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte("\xEF\xBB\xBF"))))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil && err != io.EOF {
		t.Fatalf("not JSON: %v", err)
	}
	return v
}

// assertKept checks that everything in the document before is in the
// document after, meaning for meaning: every member of every object (the
// after document may hold more), array elements in order, timestamps
// written as JSON numbers now strings of the same digits, and a known
// section that was null or an empty array now an empty object.
func assertKept(t *testing.T, before, after []byte) {
	t.Helper()
	b, a := parseStored(t, before), parseStored(t, after)
	if b == nil {
		return
	}
	bm := b.(map[string]any)
	am, _ := a.(map[string]any)
	var lost []string
	for k, v := range bm {
		if isKnownSection(k) && (v == nil || reflect.DeepEqual(v, []any{})) {
			// Read as an empty section: written as an object (holding
			// what the write added), or not at all.
			if g, ok := am[k]; ok {
				if _, isObject := g.(map[string]any); !isObject {
					lost = append(lost, fmt.Sprintf("%s: %v, want an object", k, g))
				}
			}
			continue
		}
		got, ok := am[k]
		if !ok {
			lost = append(lost, k+": missing")
			continue
		}
		lost = kept(k, v, got, lost)
	}
	if len(lost) > 0 {
		if len(lost) > 10 {
			lost = lost[:10]
		}
		t.Errorf("the write lost what was stored:\n%s", strings.Join(lost, "\n"))
	}
}

func kept(path string, want, got any, lost []string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return append(lost, fmt.Sprintf("%s: %v, want an object", path, got))
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				lost = append(lost, path+"."+k+": missing")
				continue
			}
			lost = kept(path+"."+k, v, gv, lost)
		}
		return lost
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return append(lost, fmt.Sprintf("%s: %v, want %v", path, got, w))
		}
		for i := range w {
			lost = kept(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], lost)
		}
		return lost
	case json.Number:
		if g, ok := got.(string); ok && g == w.String() {
			return lost // a timestamp, now written as the schema wants
		}
	}
	if !reflect.DeepEqual(want, got) {
		lost = append(lost, fmt.Sprintf("%s: %v, want %v", path, got, want))
	}
	return lost
}

// TestStore_writeKeepsOtherAppsRefreshTokens is the reported defect: a
// stored document with a UTF-8 BOM, or "AppMetadata": [], was replaced by
// the next write, and the other apps' refresh tokens in it were lost. One
// that really does not decode was replaced too.
func TestStore_writeKeepsOtherAppsRefreshTokens(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		doc  []byte
	}{
		{"UTF-8 BOM", append([]byte("\xEF\xBB\xBF"), storedDoc()...)},
		{"AppMetadata: []", docOf(storedWith("AppMetadata", "[]"))},
		{"not JSON", append([]byte("{not json"), storedDoc()...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := NewMemoryStore()
			seed(t, mem, storedUser, tt.doc)
			c := New(WithStore(mem), WithLogger(slog.New(slog.DiscardHandler)))
			mustStore(t, c, bearerWrite(), t0)
			stored, _ := mem.Load(ctx, storedUser)
			if bytes.Equal(stored, tt.doc) {
				return // left as it was: nothing lost
			}
			if !bytes.Contains(stored, []byte(`"secret":"other-rt"`)) {
				t.Fatalf("the write replaced the stored document and lost other_client's refresh token:\n%s", stored)
			}
		})
	}
}

// malformedStore is a Store whose stored data is malformed, as a file store
// reports it: Load and Update fail with an error wrapping ErrMalformed.
type malformedStore struct{ loads, updates atomic.Int64 }

func (s *malformedStore) Load(context.Context, string) ([]byte, error) {
	s.loads.Add(1)
	return nil, fmt.Errorf("filestore: tokens.json: %w: not JSON", ErrMalformed)
}

func (s *malformedStore) Update(context.Context, string, func([]byte) ([]byte, error)) error {
	s.updates.Add(1)
	return fmt.Errorf("filestore: tokens.json: %w: not JSON", ErrMalformed)
}

// TestStore_malformedDocumentIsNeverWritten: every write of every kind of
// partition refuses to replace a stored document that does not decode,
// reports it (RemoveAccount and RemoveAppTokens return it), and memory
// keeps serving.
func TestStore_malformedDocumentIsNeverWritten(t *testing.T) {
	ctx := context.Background()
	broken := []byte("\xEF\xBB\xBF{\"AccessToken\":{\"k\":{\"secret\":\"stored-secret\"}},\"AppMetadata\":[1]}")
	obo := userResponse("h", "obo-at", "api://downstream/.default")
	obo.UserAssertionHash = AssertionHash("the-user-assertion")
	tests := []struct {
		name, partition, kind string
		write                 func(c *Cache) error
		served                func(c *Cache) bool
	}{
		{"StoreResponse of a user", "h", "user",
			func(c *Cache) error { return c.StoreResponse(ctx, userResponse("h", "user-at", "s"), t0) },
			func(c *Cache) bool {
				at, ok := c.AccessToken(ctx, userQuery("h", "s"), t0)
				return ok && at.Secret == "user-at"
			}},
		{"StoreResponse of an app", AppPartition("my_client_id", "contoso"), "app",
			func(c *Cache) error {
				return c.StoreResponse(ctx, appResponse("my_client_id", "contoso", "app-at", "https://graph.microsoft.com/.default"), t0)
			},
			func(c *Cache) bool {
				at, ok := c.AccessToken(ctx, AccessTokenQuery{Environment: "login.microsoftonline.com", Realm: "contoso", ClientID: "my_client_id", Scopes: []string{"https://graph.microsoft.com/.default"}}, t0)
				return ok && at.Secret == "app-at"
			}},
		{"StoreResponse on behalf of a user", obo.UserAssertionHash, "on-behalf-of",
			func(c *Cache) error { return c.StoreResponse(ctx, obo, t0) },
			func(c *Cache) bool {
				q := userQuery("h", "api://downstream/.default")
				q.UserAssertionHash = obo.UserAssertionHash
				at, ok := c.AccessToken(ctx, q, t0)
				return ok && at.Secret == "obo-at"
			}},
		{"RemoveAccount", "h", "user",
			func(c *Cache) error {
				return c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id")
			}, nil},
		{"RemoveAppTokens", AppPartition("my_client_id", "contoso"), "app",
			func(c *Cache) error { return c.RemoveAppTokens(ctx, "my_client_id", "contoso") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := NewMemoryStore()
			seed(t, mem, tt.partition, broken)
			var logs bytes.Buffer
			c := New(WithStore(mem), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			err := tt.write(c)
			if tt.served == nil {
				var se *StoreError
				if !errors.As(err, &se) || se.Op != "update" || !errors.Is(err, ErrMalformed) {
					t.Errorf("err = %v, want a *StoreError wrapping ErrMalformed", err)
				}
			} else {
				if err != nil {
					t.Errorf("err = %v; a document that does not decode must not fail the write to memory", err)
				}
				if !tt.served(c) {
					t.Error("memory does not serve the token just cached")
				}
			}
			if stored, _ := mem.Load(ctx, tt.partition); !bytes.Equal(stored, broken) {
				t.Errorf("stored document = %q, want it left as it was", stored)
			}
			text := logs.String()
			if !strings.Contains(text, `"partition_kind":"`+tt.kind+`"`) || !strings.Contains(text, "does not decode") {
				t.Errorf("log = %s", text)
			}
			for _, secret := range []string{"stored-secret", "user-at", "app-at", "obo-at", "the-user-assertion"} {
				if strings.Contains(text, secret) {
					t.Errorf("log holds the secret %q: %s", secret, text)
				}
			}
		})
	}
}

// TestStore_reportedMalformedIsReadAsEmpty: a store that finds its data
// malformed says so (Load and Update wrap ErrMalformed). The partition
// counts as read, so lookups do not read it again and again; writes report
// it; memory serves.
func TestStore_reportedMalformedIsReadAsEmpty(t *testing.T) {
	ctx := context.Background()
	store := &malformedStore{}
	var logs bytes.Buffer
	c := New(WithStore(store), WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	for range 3 {
		if _, ok := c.AccessToken(ctx, userQuery("h", "s"), t0); ok {
			t.Fatal("hit from a malformed store")
		}
	}
	if n := store.loads.Load(); n != 1 {
		t.Errorf("Loads = %d, want 1: a partition found malformed counts as read", n)
	}
	mustStore(t, c, userResponse("h", "at", "s"), t0)
	if at, ok := c.AccessToken(ctx, userQuery("h", "s"), t0); !ok || at.Secret != "at" {
		t.Errorf("memory does not serve: %q %v", at.Secret, ok)
	}
	if err := c.RemoveAccount(ctx, Account{HomeAccountID: "h", Environment: "login.windows.net"}, "my_client_id"); !errors.Is(err, ErrMalformed) {
		t.Errorf("RemoveAccount = %v, want ErrMalformed", err)
	}
	if n := strings.Count(logs.String(), "does not decode"); n != 3 {
		t.Errorf("log = %s, want the load and two updates reported", logs.String())
	}
}
