// Package uuid makes random (version 4) UUIDs, for client assertion jti
// claims and client-request-id headers.
package uuid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random (version 4, RFC 9562 variant) UUID in its
// canonical text form, such as "9f1c6a5e-3b7d-4c2a-8e1f-0a2b3c4d5e6f".
// crypto/rand.Read never fails on the supported platforms (it panics
// itself if the kernel cannot supply randomness), so New returns no error.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
