package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/bearerhttp/bearer/internal/oauth"
)

// maxArcKeySize is the largest Azure Arc key file read, as MSAL reads it:
// a bigger one is not the agent's.
const maxArcKeySize = 4096

// maxArcChallenge caps the WWW-Authenticate value read for the key path.
const maxArcChallenge = 4096

// requestArc gets a token from the Azure Arc agent: a first request is
// answered 401 with a challenge naming a key file the agent just wrote;
// the file is read (only from the agent's key directory, only a small
// regular file) and its content sent back as Basic credentials.
func (m *ManagedIdentity) requestArc(ctx context.Context, resource string) (*oauth.TokenResponse, error) {
	req, err := m.tokenRequest(resource, "")
	if err != nil {
		return nil, err
	}
	resp, err := m.miWire.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		if resp.StatusCode/100 == 2 {
			return nil, fmt.Errorf("flow: Azure Arc answered %d to a request without its key, not 401 with a key file challenge", resp.StatusCode)
		}
		return nil, resp.Error()
	}
	path, err := parseArcChallenge(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return nil, err
	}
	key, err := readArcKey(path, m.arcDir)
	if err != nil {
		return nil, err
	}
	req, err = m.tokenRequest(resource, "")
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Basic "+key)
	req.Secrets = []string{key}
	resp, err = m.miWire.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, resp.Error()
	}
	tok, err := parseMIToken(resp.Body, resp.SentAt)
	if err != nil {
		return nil, err
	}
	if err := m.verifyArcEcho(resp.Body); err != nil {
		return nil, err
	}
	return tok, nil
}

// parseArcChallenge returns the key file path of Azure Arc's challenge,
// WWW-Authenticate: Basic realm={path} (the path unquoted, as the agent
// sends it, or quoted).
func parseArcChallenge(values []string) (string, error) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		const prefix = "basic realm="
		if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
			continue
		}
		if len(v) > maxArcChallenge {
			return "", fmt.Errorf("flow: Azure Arc's challenge is over %d bytes", maxArcChallenge)
		}
		p := strings.TrimSpace(v[len(prefix):])
		if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' {
			p = p[1 : len(p)-1]
		}
		if p == "" {
			return "", errors.New("flow: Azure Arc's challenge names no key file")
		}
		if strings.IndexFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '"' }) >= 0 {
			return "", errors.New("flow: Azure Arc's challenge names a key file with control characters or quotes")
		}
		return p, nil
	}
	shown := strings.Join(values, ", ")
	if len(shown) > 128 {
		shown = shown[:128] + "…"
	}
	return "", fmt.Errorf("flow: Azure Arc answered 401 without a Basic realm={key file} challenge (WWW-Authenticate %s)", strconv.Quote(shown))
}

// readArcKey reads the Azure Arc key file at path, which must be a
// regular file named *.key directly in dir, the agent's key directory,
// and at most maxArcKeySize bytes of printable ASCII. It is read through
// an [os.Root] of dir, so no symbolic link leads it elsewhere. Errors
// never show the file's content.
func readArcKey(path, dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("flow: Azure Arc runs on Linux and Windows only, not %s: no key directory", runtime.GOOS)
	}
	p := filepath.Clean(path)
	sameDir := filepath.Dir(p) == filepath.Clean(dir)
	if runtime.GOOS == "windows" {
		sameDir = strings.EqualFold(filepath.Dir(p), filepath.Clean(dir))
	}
	if !filepath.IsAbs(p) || !sameDir {
		return "", fmt.Errorf("flow: Azure Arc's key file %q is not in the agent's key directory %q; not read", path, dir)
	}
	name := filepath.Base(p)
	if filepath.Ext(name) != ".key" || name == ".key" {
		return "", fmt.Errorf("flow: Azure Arc's key file %q is not named *.key; not read", path)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("flow: Azure Arc's key directory: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(name)
	if err != nil {
		return "", fmt.Errorf("flow: Azure Arc's key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("flow: Azure Arc's key file %q is not a regular file (%s); not read", path, fi.Mode().Type())
	}
	if fi.Size() > maxArcKeySize {
		return "", fmt.Errorf("flow: Azure Arc's key file %q has %d bytes, over the %d a key has; not read", path, fi.Size(), maxArcKeySize)
	}
	f, err := root.Open(name)
	if err != nil {
		return "", fmt.Errorf("flow: Azure Arc's key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxArcKeySize+1))
	if err != nil {
		return "", fmt.Errorf("flow: Azure Arc's key file %q: reading failed", path)
	}
	switch {
	case len(b) > maxArcKeySize:
		return "", fmt.Errorf("flow: Azure Arc's key file %q grew over %d bytes while read; not used", path, maxArcKeySize)
	case len(b) == 0:
		return "", fmt.Errorf("flow: Azure Arc's key file %q is empty", path)
	case bytes.IndexFunc(b, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return "", fmt.Errorf("flow: Azure Arc's key file %q holds characters a key does not have (white space, control or non-ASCII); not used", path)
	}
	return string(b), nil
}

// verifyArcEcho fails unless the Azure Arc agent's answer confirms the
// user-assigned identity asked for, as MSAL Go checks: an agent too old
// to know user-assigned identities ignores the selector and answers for
// the system-assigned identity, whose token must not be taken for the
// one asked for.
func (m *ManagedIdentity) verifyArcEcho(body []byte) error {
	var keys []string
	switch m.kind {
	case miSystem:
		return nil
	case miClientID:
		keys = []string{"client_id"}
	case miObjectID:
		keys = []string{"object_id"}
	case miResourceID:
		keys = []string{"msi_res_id", "mi_res_id"}
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	for _, k := range keys {
		var v string
		if raw, ok := fields[k]; ok && json.Unmarshal(raw, &v) == nil && v != "" {
			if strings.EqualFold(v, m.id) {
				return nil
			}
			break
		}
	}
	return fmt.Errorf("flow: Azure Arc did not confirm the user-assigned identity (%s) asked for in its answer: the agent may not know user-assigned identities and have answered for the system-assigned one; token not used", m.kind)
}
