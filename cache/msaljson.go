package cache

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The sections of the MSAL unified cache JSON.
const (
	sectionAccessToken  = "AccessToken"
	sectionRefreshToken = "RefreshToken"
	sectionIDToken      = "IdToken"
	sectionAccount      = "Account"
	sectionAppMetadata  = "AppMetadata"
)

var knownSections = [...]string{sectionAccessToken, sectionRefreshToken, sectionIDToken, sectionAccount, sectionAppMetadata}

// ErrMalformed is matched (with [errors.Is]) by the errors for a document
// that is not an MSAL cache document: those of [Cache.UnmarshalMSAL], and
// the [*StoreError] of a write that found its partition's stored document
// malformed and so left it as it was (see [Store]). A [Store] whose stored
// data is malformed returns errors wrapping it too.
var ErrMalformed = errors.New("cache: malformed MSAL cache JSON")

// malformed wraps ErrMalformed with what was wrong. It never quotes the
// input, which may hold tokens.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// rawKV is one member of a JSON object, its value verbatim.
type rawKV struct {
	key string
	val json.RawMessage
}

// keyed is an entry with the key it was read under ("" for entries this
// package made: they get the key MSAL Go would give them).
type keyed[T any] struct {
	key string
	v   T
}

// document is an MSAL cache JSON document, decoded.
type document struct {
	ats   []keyed[AccessToken]
	rts   []keyed[RefreshToken]
	idts  []keyed[IDToken]
	accts []keyed[Account]
	meta  []keyed[AppMetadata]
	// opaque holds, per known section, the entries too incomplete to use
	// (no secret, no client ID, not an object...), kept verbatim.
	opaque map[string][]rawKV
	// unknown holds the sections this package does not know, verbatim.
	unknown []rawKV
}

// decodeObject reads a JSON object's members in order. Duplicate member
// names are all returned.
func decodeObject(data []byte) ([]rawKV, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, malformed("not a JSON object")
	}
	var kvs []rawKV
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("bad object member name")
		}
		name, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, malformed("bad value of a member")
		}
		kvs = append(kvs, rawKV{name, val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, malformed("unterminated object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("data after the top-level object")
	}
	return kvs, nil
}

// resolveCollisions applies MSAL's rule to keys that are equal once
// lower-cased: the lower-case key wins (it was written by a newer MSAL);
// among others the last one wins. Order is otherwise kept.
func resolveCollisions(kvs []rawKV) []rawKV {
	pos := make(map[string]int, len(kvs))
	out := kvs[:0:0]
	for _, kv := range kvs {
		lk := strings.ToLower(kv.key)
		i, seen := pos[lk]
		if !seen {
			pos[lk] = len(out)
			out = append(out, kv)
			continue
		}
		if out[i].key == lk && kv.key != lk {
			continue // the lower-case key already won
		}
		out[i] = kv
	}
	return out
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func isEmptyArray(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) >= 2 && v[0] == '[' && v[len(v)-1] == ']' && len(bytes.TrimSpace(v[1:len(v)-1])) == 0
}

// utf8Text reports whether JSON text that decodes holds only UTF-8 and no
// \u escape of a lone UTF-16 surrogate. A backslash can only be inside a
// string of such text, so the escapes are found without tracking strings.
func utf8Text(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] != 'u' {
			i++ // \" \\ \/ \b \f \n \r \t
			continue
		}
		r := hex4(b, i+2)
		i += 5
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if i+6 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo := hex4(b, i+3); 0xDC00 <= lo && lo < 0xE000 {
					i += 6
					continue
				}
			}
			return false
		case 0xDC00 <= r && r < 0xE000:
			return false
		}
	}
	return true
}

// hex4 reads the four hex digits at b[i:], or returns -1.
func hex4(b []byte, i int) rune {
	if i+4 > len(b) {
		return -1
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}

// utf8BOM is the byte order mark Windows tools put before UTF-8 text:
// PowerShell 5.1's Out-File -Encoding utf8, .NET's File.WriteAllText with
// Encoding.UTF8, Python's "utf-8-sig", Notepad before 2019.
var utf8BOM = []byte("\xEF\xBB\xBF")

// decodeDocument parses an MSAL cache document as MSAL libraries and the
// tools around them leave it: a leading UTF-8 BOM is skipped; empty input
// and "null" are an empty cache; a known section that is null or an empty
// array (which MSAL Node and MSAL.NET's Newtonsoft reader take for an
// empty section) is an empty section. Entries it cannot use are kept
// verbatim, as are unknown sections and fields. Of a member name given
// twice, the last one counts, as in encoding/json, Python's json module
// and JavaScript's JSON.parse.
//
// Anything else is an error wrapping [ErrMalformed], and no write may
// replace such a document: input that is not one JSON object, a known
// section that is neither an object nor one of the above, and text that
// is not UTF-8 (invalid bytes, a lone UTF-16 surrogate escape: Go's
// decoder would read either as U+FFFD, so writing the document back would
// change what it holds).
func decodeDocument(data []byte) (*document, error) {
	d := &document{}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return d, nil
	}
	top, err := decodeObject(trimmed)
	if err != nil {
		return nil, err
	}
	if !utf8Text(trimmed) {
		return nil, malformed("not UTF-8 text")
	}
	sections := make(map[string]json.RawMessage, len(knownSections))
	for _, kv := range top {
		if isKnownSection(kv.key) {
			sections[kv.key] = kv.val
			continue
		}
		d.unknown = upsertKV(d.unknown, kv)
	}
	for _, name := range knownSections {
		val, ok := sections[name]
		if !ok || isNull(val) || isEmptyArray(val) {
			continue
		}
		entries, err := decodeObject(val)
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", name, err)
		}
		for _, kv := range resolveCollisions(entries) {
			// No MSAL writes an entry under the empty key, and "" is how
			// a keyed entry says this package made it: such an entry is
			// kept verbatim, never used.
			if kv.key == "" || !d.addEntry(name, kv) {
				if d.opaque == nil {
					d.opaque = make(map[string][]rawKV)
				}
				d.opaque[name] = append(d.opaque[name], kv)
			}
		}
	}
	return d, nil
}

// lastOfEach drops the members whose name comes again later: of a name
// given twice, the last one counts.
func lastOfEach(kvs []rawKV) []rawKV {
	later := func(i int) bool { // kvs[i].key comes again after i
		for _, kv := range kvs[i+1:] {
			if kv.key == kvs[i].key {
				return true
			}
		}
		return false
	}
	if len(kvs) > 16 { // an entry has about a dozen fields; this one has more
		last := make(map[string]int, len(kvs))
		for i, kv := range kvs {
			last[kv.key] = i
		}
		later = func(i int) bool { return last[kvs[i].key] != i }
	}
	var out []rawKV
	for i := range kvs {
		if later(i) {
			if out == nil {
				out = append(kvs[:0:0], kvs[:i]...)
			}
			continue
		}
		if out != nil {
			out = append(out, kvs[i])
		}
	}
	if out == nil {
		return kvs
	}
	return out
}

func isKnownSection(name string) bool {
	for _, s := range knownSections {
		if s == name {
			return true
		}
	}
	return false
}

func upsertKV(kvs []rawKV, kv rawKV) []rawKV {
	for i := range kvs {
		if kvs[i].key == kv.key {
			kvs[i] = kv
			return kvs
		}
	}
	return append(kvs, kv)
}

// addEntry decodes one entry of a known section into d, reporting false
// when the entry is too incomplete to use.
func (d *document) addEntry(section string, kv rawKV) bool {
	fields, err := decodeObject(kv.val)
	if err != nil {
		return false
	}
	fields = lastOfEach(fields)
	f := fieldReader{}
	switch section {
	case sectionAccessToken:
		var t AccessToken
		var keyID, keyid *rawKV
		var nodeHash json.RawMessage
		for i, m := range fields {
			switch m.key {
			case "home_account_id":
				f.str(m, &t.HomeAccountID)
			case "environment":
				f.str(m, &t.Environment)
			case "realm":
				f.str(m, &t.Realm)
			case "client_id":
				f.str(m, &t.ClientID)
			case "credential_type":
				f.str(m, &t.CredentialType)
			case "target":
				f.str(m, &t.Target)
			case "secret":
				f.str(m, &t.Secret)
			case "cached_at":
				f.unix(m, &t.CachedAt)
			case "expires_on":
				f.unix(m, &t.ExpiresOn)
			case "extended_expires_on":
				f.unix(m, &t.ExtendedExpiresOn)
			case "refresh_on":
				f.unix(m, &t.RefreshOn)
			case "token_type":
				f.str(m, &t.TokenType)
			case "key_id":
				keyID = &fields[i]
			case "keyid":
				keyid = &fields[i]
			case "user_assertion_hash":
				f.str(m, &t.UserAssertionHash)
			case "userAssertionHash":
				// MSAL Node's spelling. Kept as it is, so MSAL Node still
				// finds its on-behalf-of tokens after a write.
				nodeHash = m.val
				f.extra(m)
			default:
				f.extra(m)
			}
		}
		f.keyID(&t.KeyID, keyID, keyid)
		if t.UserAssertionHash == "" && nodeHash != nil {
			// Read, an on-behalf-of token of MSAL Node's stays with the
			// user's assertion instead of passing for an app token.
			var s string
			if json.Unmarshal(nodeHash, &s) == nil {
				t.UserAssertionHash = s
			}
		}
		if t.Secret == "" || t.ClientID == "" || t.Environment == "" {
			return false
		}
		t.Extra = f.extras
		d.ats = append(d.ats, keyed[AccessToken]{kv.key, t})
	case sectionRefreshToken:
		var t RefreshToken
		for _, m := range fields {
			switch m.key {
			case "home_account_id":
				f.str(m, &t.HomeAccountID)
			case "environment":
				f.str(m, &t.Environment)
			case "client_id":
				f.str(m, &t.ClientID)
			case "credential_type":
				f.str(m, &t.CredentialType)
			case "family_id":
				f.str(m, &t.FamilyID)
			case "secret":
				f.str(m, &t.Secret)
			case "realm":
				f.str(m, &t.Realm)
			case "target":
				f.str(m, &t.Target)
			case "user_assertion_hash":
				f.str(m, &t.UserAssertionHash)
			default:
				f.extra(m)
			}
		}
		if t.Secret == "" || t.ClientID == "" || t.Environment == "" {
			return false
		}
		t.Extra = f.extras
		d.rts = append(d.rts, keyed[RefreshToken]{kv.key, t})
	case sectionIDToken:
		var t IDToken
		for _, m := range fields {
			switch m.key {
			case "home_account_id":
				f.str(m, &t.HomeAccountID)
			case "environment":
				f.str(m, &t.Environment)
			case "realm":
				f.str(m, &t.Realm)
			case "client_id":
				f.str(m, &t.ClientID)
			case "credential_type":
				f.str(m, &t.CredentialType)
			case "secret":
				f.str(m, &t.Secret)
			case "user_assertion_hash":
				f.str(m, &t.UserAssertionHash)
			default:
				f.extra(m)
			}
		}
		if t.Secret == "" || t.ClientID == "" || t.Environment == "" {
			return false
		}
		t.Extra = f.extras
		d.idts = append(d.idts, keyed[IDToken]{kv.key, t})
	case sectionAccount:
		var a Account
		for _, m := range fields {
			switch m.key {
			case "home_account_id":
				f.str(m, &a.HomeAccountID)
			case "environment":
				f.str(m, &a.Environment)
			case "realm":
				f.str(m, &a.Realm)
			case "local_account_id":
				f.str(m, &a.LocalAccountID)
			case "username":
				f.str(m, &a.Username)
			case "authority_type":
				f.str(m, &a.AuthorityType)
			case "name":
				f.str(m, &a.Name)
			case "given_name":
				f.str(m, &a.GivenName)
			case "family_name":
				f.str(m, &a.FamilyName)
			case "middle_name":
				f.str(m, &a.MiddleName)
			case "alternative_account_id":
				f.str(m, &a.AlternativeAccountID)
			case "client_info":
				f.str(m, &a.ClientInfo)
			case "user_assertion_hash":
				f.str(m, &a.UserAssertionHash)
			default:
				f.extra(m)
			}
		}
		if a.HomeAccountID == "" || a.Environment == "" {
			return false
		}
		a.Extra = f.extras
		d.accts = append(d.accts, keyed[Account]{kv.key, a})
	case sectionAppMetadata:
		var m AppMetadata
		for _, fm := range fields {
			switch fm.key {
			case "client_id":
				f.str(fm, &m.ClientID)
			case "environment":
				f.str(fm, &m.Environment)
			case "family_id":
				f.str(fm, &m.FamilyID)
			default:
				f.extra(fm)
			}
		}
		if m.ClientID == "" || m.Environment == "" {
			return false
		}
		m.Extra = f.extras
		d.meta = append(d.meta, keyed[AppMetadata]{kv.key, m})
	}
	return true
}

// fieldReader fills entry fields, sending members it cannot interpret
// (wrong JSON type, null, unknown name) to extras verbatim.
type fieldReader struct {
	extras map[string]json.RawMessage
}

func (f *fieldReader) extra(m rawKV) {
	if f.extras == nil {
		f.extras = make(map[string]json.RawMessage)
	}
	f.extras[m.key] = m.val
}

// keyID reads a proof-of-possession key ID, which MSAL Python writes as
// key_id and MSAL Go as keyid (this package writes both). key_id wins
// whatever the order of the two; a keyid that differs, or a member that is
// not a string, is kept verbatim.
func (f *fieldReader) keyID(dst *string, keyID, keyid *rawKV) {
	var a, b string
	if keyID != nil {
		f.str(*keyID, &a)
	}
	if keyid != nil {
		if f.str(*keyid, &b); b != "" && a != "" && a != b {
			f.extra(*keyid)
		}
	}
	*dst = cmp.Or(a, b)
}

func (f *fieldReader) str(m rawKV, dst *string) {
	var s string
	if len(m.val) == 0 || m.val[0] != '"' || json.Unmarshal(m.val, &s) != nil || s == "" {
		f.extra(m)
		return
	}
	*dst = s
}

// unix reads a timestamp: Unix seconds as a string (the schema) or a number.
// Zero, negative and unreadable values are kept verbatim instead.
func (f *fieldReader) unix(m rawKV, dst *time.Time) {
	text := string(m.val)
	if len(m.val) > 0 && m.val[0] == '"' {
		if json.Unmarshal(m.val, &text) != nil {
			f.extra(m)
			return
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n <= 0 || n > maxUnix {
		f.extra(m)
		return
	}
	*dst = time.Unix(n, 0)
}

// maxUnix bounds timestamps to what time.Duration arithmetic on them can
// hold (year 2262).
const maxUnix = math.MaxInt64/int64(time.Second) - 1

// encode writes d as MSAL cache JSON: the five known sections first (each
// even when empty), then unknown sections in the order read. Entries are
// sorted by key; an entry read under a key is written under that key,
// others under the key MSAL Go gives them.
func (d *document) encode() ([]byte, error) {
	sections := make(map[string]map[string]json.RawMessage, len(knownSections))
	for _, name := range knownSections {
		sections[name] = make(map[string]json.RawMessage)
		for _, kv := range d.opaque[name] {
			sections[name][kv.key] = kv.val
		}
	}
	put := func(section, key string, e entryWriter) error {
		b, err := e.encode()
		if err != nil {
			return err
		}
		sections[section][key] = b
		return nil
	}
	for _, e := range d.ats {
		if err := put(sectionAccessToken, orKey(e.key, e.v.Key), atWriter{e.v, e.key == ""}); err != nil {
			return nil, err
		}
	}
	for _, e := range d.rts {
		if err := put(sectionRefreshToken, orKey(e.key, e.v.Key), rtWriter(e.v)); err != nil {
			return nil, err
		}
	}
	for _, e := range d.idts {
		if err := put(sectionIDToken, orKey(e.key, e.v.Key), idtWriter(e.v)); err != nil {
			return nil, err
		}
	}
	for _, e := range d.accts {
		if err := put(sectionAccount, orKey(e.key, e.v.Key), acctWriter(e.v)); err != nil {
			return nil, err
		}
	}
	for _, e := range d.meta {
		if err := put(sectionAppMetadata, orKey(e.key, e.v.Key), metaWriter(e.v)); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	member := func(name string, val []byte) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		n, _ := json.Marshal(name)
		buf.Write(n)
		buf.WriteByte(':')
		buf.Write(val)
	}
	for _, name := range knownSections {
		b, err := json.Marshal(sections[name])
		if err != nil {
			return nil, fmt.Errorf("cache: encoding section %s: %w", name, err)
		}
		member(name, b)
	}
	for _, kv := range d.unknown {
		var c bytes.Buffer
		if err := json.Compact(&c, kv.val); err != nil {
			return nil, fmt.Errorf("cache: encoding an unknown section: %w", err)
		}
		member(kv.key, c.Bytes())
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func orKey(key string, gen func() string) string {
	if key != "" {
		return key
	}
	return gen()
}

// entryWriter encodes one entry as a JSON object.
type entryWriter interface{ encode() ([]byte, error) }

// fields collects an entry's members: the known ones that are set, then
// the extras that do not collide with them.
type fields map[string]json.RawMessage

func (f fields) str(name, v string) {
	if v != "" {
		b, _ := json.Marshal(v)
		f[name] = b
	}
}

// unix writes a timestamp as the schema wants it: a string of Unix seconds.
func (f fields) unix(name string, t time.Time) {
	if !t.IsZero() {
		f[name] = json.RawMessage(`"` + strconv.FormatInt(t.Unix(), 10) + `"`)
	}
}

func (f fields) encode(extra map[string]json.RawMessage) ([]byte, error) {
	for k, v := range extra {
		if _, set := f[k]; set {
			continue
		}
		f[k] = v
	}
	b, err := json.Marshal(map[string]json.RawMessage(f))
	if err != nil {
		return nil, fmt.Errorf("cache: encoding an entry's extra fields: %w", err)
	}
	return b, nil
}

// atWriter writes an access token; made is set for tokens this package
// made (not read from JSON).
type atWriter struct {
	AccessToken
	made bool
}

func (t atWriter) encode() ([]byte, error) {
	f := fields{}
	f.str("home_account_id", t.HomeAccountID)
	if t.HomeAccountID == "" && t.made {
		// MSAL Python finds app tokens by "home_account_id": null; MSAL Go
		// reads null as empty.
		f["home_account_id"] = json.RawMessage("null")
	}
	f.str("environment", t.Environment)
	f.str("realm", t.Realm)
	f.str("client_id", t.ClientID)
	f.str("credential_type", t.CredentialType)
	f.str("target", t.Target)
	f.str("secret", t.Secret)
	f.unix("cached_at", t.CachedAt)
	f.unix("expires_on", t.ExpiresOn)
	f.unix("extended_expires_on", t.ExtendedExpiresOn)
	f.unix("refresh_on", t.RefreshOn)
	f.str("token_type", t.TokenType)
	// MSAL Python reads key_id, MSAL Go keyid: write both, except where
	// the entry was read with a value of its own there (see keyID).
	if _, kept := t.Extra["key_id"]; !kept {
		f.str("key_id", t.KeyID)
	}
	if _, kept := t.Extra["keyid"]; !kept {
		f.str("keyid", t.KeyID)
	}
	f.str("user_assertion_hash", t.UserAssertionHash)
	return f.encode(t.Extra)
}

type rtWriter RefreshToken

func (t rtWriter) encode() ([]byte, error) {
	f := fields{}
	f.str("home_account_id", t.HomeAccountID)
	f.str("environment", t.Environment)
	f.str("client_id", t.ClientID)
	f.str("credential_type", t.CredentialType)
	f.str("family_id", t.FamilyID)
	f.str("secret", t.Secret)
	f.str("realm", t.Realm)
	f.str("target", t.Target)
	f.str("user_assertion_hash", t.UserAssertionHash)
	return f.encode(t.Extra)
}

type idtWriter IDToken

func (t idtWriter) encode() ([]byte, error) {
	f := fields{}
	f.str("home_account_id", t.HomeAccountID)
	f.str("environment", t.Environment)
	f.str("realm", t.Realm)
	f.str("client_id", t.ClientID)
	f.str("credential_type", t.CredentialType)
	f.str("secret", t.Secret)
	f.str("user_assertion_hash", t.UserAssertionHash)
	return f.encode(t.Extra)
}

type acctWriter Account

func (a acctWriter) encode() ([]byte, error) {
	f := fields{}
	f.str("home_account_id", a.HomeAccountID)
	f.str("environment", a.Environment)
	f.str("realm", a.Realm)
	f.str("local_account_id", a.LocalAccountID)
	f.str("username", a.Username)
	f.str("authority_type", a.AuthorityType)
	f.str("name", a.Name)
	f.str("given_name", a.GivenName)
	f.str("family_name", a.FamilyName)
	f.str("middle_name", a.MiddleName)
	f.str("alternative_account_id", a.AlternativeAccountID)
	f.str("client_info", a.ClientInfo)
	f.str("user_assertion_hash", a.UserAssertionHash)
	return f.encode(a.Extra)
}

type metaWriter AppMetadata

func (m metaWriter) encode() ([]byte, error) {
	f := fields{}
	f.str("client_id", m.ClientID)
	f.str("environment", m.Environment)
	f.str("family_id", m.FamilyID)
	return f.encode(m.Extra)
}
