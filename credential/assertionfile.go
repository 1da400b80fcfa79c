package credential

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"
)

// AssertionFile returns a [Credential] that authenticates with a client
// assertion read from the file at path, such as the service account token
// Kubernetes projects for workload identity federation
// (AZURE_FEDERATED_TOKEN_FILE).
//
// The file holds one JWT (surrounding white space is ignored). It is read
// on first use and kept; each Apply stats the file and reads it again when
// its modification time or size has changed, or when the kept JWT's exp
// is at or before Request.Now (or the current time). A file whose JWT has
// expired even so is an error wrapping [ErrAssertionExpired]: an expired
// assertion is never sent. A JWT without an exp claim is sent as it is.
//
// Errors: the file's own (it does not exist, cannot be read), an empty
// file ([ErrEmptyAssertion]), content that is not a compact JWS JWT with
// a JSON claims set ([ErrMalformedAssertion]; federated tokens always
// are, and this catches a path pointing at the wrong file). No error
// quotes the file's content.
func AssertionFile(path string) Credential {
	return &fileCredential{
		redacted: redacted{desc: "credential.AssertionFile(" + strconv.Quote(path) + ")"},
		path:     path,
		kept:     new(keptAssertion),
	}
}

type fileCredential struct {
	redacted
	path string
	// kept is behind a pointer so that no print of this struct shows
	// the token (see secretCredential).
	kept *keptAssertion
}

// keptAssertion is the assertion last read from the file, with the
// file's stat at that read.
type keptAssertion struct {
	mu      sync.Mutex
	tok     string // "" until read
	modTime time.Time
	size    int64
	exp     time.Time // zero when the JWT has no exp
}

// Validate reports an empty path as [ErrEmptyAssertion]. It does not read
// the file, which may appear later (a volume mounted after start).
func (c *fileCredential) Validate() error {
	if c == nil || c.path == "" || c.kept == nil {
		return fmt.Errorf("%w: no assertion file path", ErrEmptyAssertion)
	}
	return nil
}

// Apply adds the file's assertion to form.
func (c *fileCredential) Apply(ctx context.Context, req Request, form url.Values, _ http.Header) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tok, err := c.kept.get(c.path, req.now())
	if err != nil {
		return err
	}
	setAssertion(form, tok)
	return nil
}

// get returns a JWT from the file at path that has not expired at now.
func (c *keptAssertion) get(path string, now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("credential: assertion file: %w", err)
	}
	if c.tok != "" && fi.ModTime().Equal(c.modTime) && fi.Size() == c.size && !expired(c.exp, now) {
		return c.tok, nil
	}
	if err := c.read(path); err != nil {
		return "", err
	}
	if expired(c.exp, now) {
		return "", fmt.Errorf("%w: the JWT in %s expired at %s, it is now %s", ErrAssertionExpired, path,
			c.exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return c.tok, nil
}

// read reads the file into c, the content and the stat of the same open
// file, so a replacement between the two cannot pair one file's content
// with another's time and size.
func (c *keptAssertion) read(path string) error {
	c.tok = ""
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("credential: assertion file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("credential: assertion file: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAssertionSize+1))
	if err != nil {
		return fmt.Errorf("credential: assertion file: %w", err)
	}
	tok := string(bytes.TrimSpace(data))
	if tok == "" {
		return fmt.Errorf("%w: the file %s is empty", ErrEmptyAssertion, path)
	}
	exp, _, err := assertionExpiry(tok)
	if err != nil {
		return fmt.Errorf("%w (file %s)", err, path)
	}
	c.tok, c.modTime, c.size, c.exp = tok, fi.ModTime(), fi.Size(), exp
	return nil
}

// expired reports whether a JWT with the given exp (zero for none) has
// expired at now.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}
