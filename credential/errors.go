package credential

import "errors"

// Errors returned by this package. Each is wrapped with the detail of the
// check that failed; test for them with errors.Is. No error of this
// package contains a secret, a private key, a password or an assertion.
var (
	// ErrNoCredential is returned by [Validate] for a nil Credential.
	ErrNoCredential = errors.New("credential: no credential")
	// ErrEmptySecret reports a client secret that is empty.
	ErrEmptySecret = errors.New("credential: the client secret is empty")
	// ErrIncompleteRequest reports a [Request] that lacks a field the
	// credential needs (the client ID, or an assertion's audience).
	ErrIncompleteRequest = errors.New("credential: incomplete request")

	// ErrNoCertificate reports that no certificate was given or found.
	ErrNoCertificate = errors.New("credential: no certificate")
	// ErrNoPrivateKey reports that no private key was given or found.
	ErrNoPrivateKey = errors.New("credential: no private key")
	// ErrMultipleKeys reports data holding more than one private key.
	ErrMultipleKeys = errors.New("credential: more than one private key")
	// ErrKeyMismatch reports a private key whose public key is in none of
	// the certificates.
	ErrKeyMismatch = errors.New("credential: the private key matches no certificate")
	// ErrWrongPassword reports an encrypted key or PKCS#12 file that the
	// given password (possibly none) does not decrypt.
	ErrWrongPassword = errors.New("credential: wrong or missing password")
	// ErrMalformed reports data that is not a certificate, a key or a
	// PKCS#12 file this package can read.
	ErrMalformed = errors.New("credential: malformed certificate or key data")
	// ErrUnsupportedKey reports a key the authority cannot use: not RSA
	// for Entra or ADFS, no algorithm in common with an OIDC authority,
	// a curve other than P-256, P-384 or P-521, or a key type this
	// package cannot sign with.
	ErrUnsupportedKey = errors.New("credential: unsupported key")
	// ErrWeakKey reports an RSA key shorter than 2048 bits.
	ErrWeakKey = errors.New("credential: RSA key shorter than 2048 bits")
	// ErrCertificateExpired reports a signing certificate past its
	// NotAfter time.
	ErrCertificateExpired = errors.New("credential: certificate expired")
	// ErrCertificateNotYetValid reports a signing certificate before its
	// NotBefore time.
	ErrCertificateNotYetValid = errors.New("credential: certificate not yet valid")
	// ErrThumbprintMismatch reports a thumbprint that is not the
	// certificate's (see [CheckThumbprint]).
	ErrThumbprintMismatch = errors.New("credential: thumbprint does not match the certificate")
	// ErrReservedClaim reports a client claim that would replace one of
	// the claims the credential sets itself (aud, iss, sub, jti, exp,
	// nbf, iat).
	ErrReservedClaim = errors.New("credential: client claims may not set a registered claim")

	// ErrNoCallback reports an [Assertion] credential made with a nil
	// callback.
	ErrNoCallback = errors.New("credential: no assertion callback")
	// ErrEmptyAssertion reports an assertion callback or file that gave
	// an empty assertion.
	ErrEmptyAssertion = errors.New("credential: empty assertion")
	// ErrMalformedAssertion reports an assertion file whose content is not
	// a compact JWS JWT with a JSON claims set.
	ErrMalformedAssertion = errors.New("credential: assertion is not a JWT")
	// ErrAssertionExpired reports an assertion file whose JWT has expired.
	ErrAssertionExpired = errors.New("credential: assertion expired")
)
