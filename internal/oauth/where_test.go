package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestWhereHidesThePathInLogsAndErrors checks that a request named by
// Where (user realm discovery, whose path holds a username) shows Where,
// never its URL, in log records and in the error of a failed call.
func TestWhereHidesThePathInLogsAndErrors(t *testing.T) {
	srv := newAuthority(t, hangUp, hangUp, hangUp)
	var sl sleeps
	var logs logBuffer
	c := testClient(&sl)
	c.Logger = logs.logger()
	const user = "alice.private@contoso.com"
	_, err := c.Do(context.Background(), &Request{
		Method: http.MethodGet,
		URL:    srv.URL + "/common/userrealm/" + url.PathEscape(user) + "?api-version=1.0",
		Where:  srv.URL + "/common/userrealm/{username}",
	})
	if err == nil {
		t.Fatal("no error after three dropped connections")
	}
	if !strings.Contains(err.Error(), "{username}") {
		t.Errorf("error %q does not name the request by Where", err)
	}
	mustNotContain(t, "error", err.Error(), "alice.private", url.PathEscape(user))
	mustNotContain(t, "logs", logs.String(), "alice.private", url.PathEscape(user))
	if !strings.Contains(logs.String(), "{username}") {
		t.Errorf("the logs do not name the request: %s", logs.String())
	}
}
