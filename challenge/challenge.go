// Package challenge reads WWW-Authenticate challenges (RFC 9110 §11.6.1)
// as real services send them, and tells what a challenge asks for.
package challenge

// Challenge is one authentication challenge of a WWW-Authenticate header.
type Challenge struct {
	// Scheme is the authentication scheme as written, such as "Bearer".
	Scheme string
	// Token68 is the token68 form of the challenge's credentials, if any.
	Token68 string
	// Params holds the auth-params, names lower-cased, values unquoted.
	Params map[string]string
}
