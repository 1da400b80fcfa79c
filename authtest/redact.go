package authtest

import "fmt"

// String describes c without its secret.
func (c Client) String() string {
	kind := "confidential"
	if c.Public {
		kind = "public"
	}
	secret := ""
	if c.Secret != "" {
		secret = ", secret REDACTED"
	}
	return fmt.Sprintf("authtest.Client{ID: %q, %s%s, %d certificate(s), %d federated credential(s)}",
		c.ID, kind, secret, len(c.Certificates), len(c.FederatedCredentials))
}

// Format prints c as String does for every verb, so %v, %+v and %#v never
// show the secret.
func (c Client) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// String describes u without the password.
func (u User) String() string {
	pw := ""
	if u.Password != "" {
		pw = ", password REDACTED"
	}
	return fmt.Sprintf("authtest.User{Username: %q, ObjectID: %q, TenantID: %q%s, MFA: %t}",
		u.Username, u.ObjectID, u.TenantID, pw, u.MFA)
}

// Format prints u as String does for every verb, so %v, %+v and %#v never
// show the password.
func (u User) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(u.String())) }
