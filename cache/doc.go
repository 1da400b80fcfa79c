// Package cache is the token cache of the flow apps: an in-memory index
// of access tokens, refresh tokens, ID tokens, accounts and app metadata
// in the MSAL unified schema, bounded in memory, optionally in front of a
// persistent [Store] (a file, Redis), and readable and writable as MSAL
// cache JSON so a cache can be shared with MSAL Go and MSAL Python.
//
// # Partitions
//
// Entries are grouped by identity, in partitions named as MSAL Go names
// its cache partitions:
//
//   - an app's own tokens (client credentials): [AppPartition](client,
//     tenant);
//   - on-behalf-of tokens: [AssertionHash] of the user's assertion (the
//     base64url SHA-256 MSAL Go stores as user_assertion_hash);
//   - a user's tokens, ID tokens and accounts: the home account ID
//     ([UserPartition]).
//
// A partition is read from and written to a [Store] as one MSAL JSON
// document, and evicted from memory as a unit.
//
// # Lookups
//
// [Cache.AccessToken] hashes (partition, environment, realm, client, token
// type, key ID) to one bucket and scans the few scope sets in it, so it
// costs the same with a million entries as with ten, and allocates nothing.
// A cached token serves a request when its scopes include the ones asked
// for (case-insensitively for Entra, exactly for other authorities;
// openid, offline_access and profile do not count), and it is not in the
// last min(5 minutes, lifetime/10) of its life. Environments are compared
// by cloud: every alias of an Entra cloud (login.microsoftonline.com,
// login.windows.net, ...) finds the same entries.
//
// # Time
//
// The cache reads no clock. Every operation whose outcome depends on time
// takes now, so the caller's injected clock decides, and a cache read from
// a file written long ago keeps its expired entries until a lookup or
// [Cache.Sweep] at a given now meets them. Times are kept to the second, as
// the schema stores them.
//
// # Memory
//
// [WithMaxEntries] (default [DefaultMaxEntries]) and [WithMaxBytes] bound
// the cache. Over a cap, whole partitions go, least recently used first,
// per lock shard (starting with the shard written to). Refresh tokens are
// neither favoured nor sacrificed: an identity's refresh token goes with
// its access tokens when the identity has not been used for the longest
// time, so a live user never keeps an access token while losing the
// refresh token behind it. Expired access tokens are dropped when a lookup
// meets them, a few at a time by writes, and by [Cache.Sweep], whose cost
// follows the number of expired tokens (a heap per shard), not the total.
// Refresh tokens have no expiry and are never dropped for age.
//
// # Persistence
//
// With [WithStore], a lookup that misses in memory reads the identity's
// partition from the store once (concurrent misses share the read) and
// looks again; [Cache.StoreResponse], [Cache.RemoveAccount] and
// [Cache.RemoveAppTokens] update the stored partition with Store.Update,
// merging into what other processes stored. A failing store is logged
// (see [WithLogger]) and survived: memory keeps serving, and
// StoreResponse still succeeds. A stored document that does not decode is
// never overwritten: it stays as it is, the failure (wrapping
// [ErrMalformed]) is logged, and returned by the calls that return store
// failures.
//
// The module's stores are cache/filestore (one MSAL cache file, shared
// with MSAL Go and MSAL Python, locked across processes) and
// cache/redisstore (one Redis key per partition, for replicas and fleets).
// A memory that has read a partition does not read it again by itself:
// [Cache.ReadPartition] does, to pick up what another process has just
// stored. A store that implements [Leaser] (the Redis store) lets flow
// coalesce misses across the processes sharing it; cache/storetest checks
// a store against the [Store] contract.
//
// # MSAL JSON
//
// [Cache.MarshalMSAL] and [Cache.UnmarshalMSAL] read and write the MSAL
// unified cache format: keys as MSAL Go builds them, timestamps as strings
// of Unix seconds, unknown sections, entries and fields kept as they were.
// Entries are written with the authority host they came from, as MSAL Go
// and MSAL Python write the host they are configured with; app tokens carry
// "home_account_id": null, which MSAL Python looks them up by; and
// proof-of-possession key IDs are written as both keyid (MSAL Go) and
// key_id (MSAL Python).
//
// Values of the entry types never print or log their secrets.
package cache
