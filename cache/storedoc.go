package cache

import (
	"slices"
	"strings"
)

// Stores that keep every partition in one MSAL cache document (a file
// that MSAL Go, MSAL Python and msal-extensions read and write whole) use
// PartitionDocument to answer Load and ReplacePartition to apply Update.

// PartitionDocument returns the MSAL cache document of one partition of
// doc, a document holding any number of partitions (a cache file written
// by this package, MSAL Go or MSAL Python): partition's access tokens,
// refresh tokens, ID tokens and accounts, with all of doc's app metadata
// and all its sections that are not MSAL's (they belong to no partition;
// flow keeps its discovery documents in one, see flow.WithMetadataStore).
// It returns nil, nil when doc holds no entry of partition and no such
// section (empty doc included). A doc that does not decode is an error
// wrapping [ErrMalformed] (which never quotes doc).
func PartitionDocument(doc []byte, partition string) ([]byte, error) {
	d, err := decodeDocument(doc)
	if err != nil {
		return nil, err
	}
	out := &document{meta: d.meta, unknown: d.unknown}
	for _, e := range d.ats {
		if e.v.partition() == partition {
			out.ats = append(out.ats, e)
		}
	}
	for _, e := range d.rts {
		if e.v.partition() == partition {
			out.rts = append(out.rts, e)
		}
	}
	for _, e := range d.idts {
		if e.v.partition() == partition {
			out.idts = append(out.idts, e)
		}
	}
	for _, e := range d.accts {
		if e.v.partition() == partition {
			out.accts = append(out.accts, e)
		}
	}
	if len(out.ats)+len(out.rts)+len(out.idts)+len(out.accts)+len(out.unknown) == 0 {
		return nil, nil
	}
	return out.encode()
}

// ReplacePartition returns doc with the entries of partition replaced by
// those of part, a partition document as [PartitionDocument] returns it
// and a [Store.Update] function makes it. Everything else in doc stays:
// the entries of other partitions, the entries too incomplete to place
// (except one under the key of an entry part writes, which that entry
// replaces, as a write to the cache does), and unknown sections. part's
// app metadata is added to doc's, replacing the metadata of the same
// environment and client, and so are its sections that are not MSAL's,
// replacing doc's of the same name (a partition document carries back
// those it was read with, unchanged). Entries of part that belong to
// another partition are not written. An empty or nil part removes the
// partition's entries.
//
// When doc or part does not decode, the error wraps [ErrMalformed]: a
// store must then leave doc as it is.
func ReplacePartition(doc []byte, partition string, part []byte) ([]byte, error) {
	d, err := decodeDocument(doc)
	if err != nil {
		return nil, err
	}
	p, err := decodeDocument(part)
	if err != nil {
		return nil, err
	}
	written := make(map[string]map[string]struct{}, len(knownSections))
	wrote := func(section, key string) bool {
		m := written[section]
		if m == nil {
			m = make(map[string]struct{})
			written[section] = m
		}
		m[strings.ToLower(key)] = struct{}{}
		return true
	}
	d.ats = replaceEntries(d.ats, p.ats, partition, sectionAccessToken, wrote)
	d.rts = replaceEntries(d.rts, p.rts, partition, sectionRefreshToken, wrote)
	d.idts = replaceEntries(d.idts, p.idts, partition, sectionIDToken, wrote)
	d.accts = replaceEntries(d.accts, p.accts, partition, sectionAccount, wrote)
	for _, m := range p.meta {
		env := canonEnv(m.v.Environment)
		d.meta = slices.DeleteFunc(d.meta, func(o keyed[AppMetadata]) bool {
			return canonEnv(o.v.Environment) == env && o.v.ClientID == m.v.ClientID
		})
		d.meta = append(d.meta, m)
		wrote(sectionAppMetadata, orKey(m.key, m.v.Key))
	}
	for _, kv := range p.unknown {
		d.unknown = upsertKV(d.unknown, kv)
	}
	for section, kvs := range d.opaque {
		keys := written[section]
		d.opaque[section] = slices.DeleteFunc(kvs, func(kv rawKV) bool {
			_, replaced := keys[strings.ToLower(kv.key)]
			return replaced
		})
	}
	return d.encode()
}

// DocumentPartitions returns the names of the partitions doc holds
// entries of, sorted. A doc that does not decode is an error wrapping
// [ErrMalformed].
func DocumentPartitions(doc []byte) ([]string, error) {
	d, err := decodeDocument(doc)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range d.ats {
		names = append(names, e.v.partition())
	}
	for _, e := range d.rts {
		names = append(names, e.v.partition())
	}
	for _, e := range d.idts {
		names = append(names, e.v.partition())
	}
	for _, e := range d.accts {
		names = append(names, e.v.partition())
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// replaceEntries returns dst without its entries of partition, and with
// src's entries of partition whose key wrote has not seen in section
// (wrote records it).
func replaceEntries[T any, PT interface {
	*T
	partition() string
	Key() string
}](dst, src []keyed[T], partition, section string, wrote func(section, key string) bool) []keyed[T] {
	dst = slices.DeleteFunc(dst, func(e keyed[T]) bool { return PT(&e.v).partition() == partition })
	for _, e := range src {
		if v := PT(&e.v); v.partition() == partition && wrote(section, orKey(e.key, v.Key)) {
			dst = append(dst, e)
		}
	}
	return dst
}

func (t *AccessToken) partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

func (t *RefreshToken) partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

func (t *IDToken) partition() string {
	return partitionName(partitionOf(t.UserAssertionHash, t.HomeAccountID, t.ClientID, t.Realm))
}

func (a *Account) partition() string {
	return partitionName(partitionOf(a.UserAssertionHash, a.HomeAccountID, "", a.Realm))
}
