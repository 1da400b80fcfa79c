"""MSAL Python's side of the file store's interoperability tests.

  msal_python.py write PATH   writes, with MSAL Python's own TokenCache.add
                              (as after token responses), a user's tokens and
                              an app token to a new cache file at PATH;
  msal_python.py read PATH    reads the cache file at PATH with MSAL Python
                              and prints, as JSON, what MSAL Python's lookups
                              find in it (TokenCache.find, as acquire_token_*
                              look tokens up).
"""
import base64
import json
import sys
import time

import msal


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


ENDPOINT = "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"


def write(path):
    cache = msal.SerializableTokenCache()
    now = int(time.time())
    id_token = "eyJhbGciOiJub25lIn0." + b64({
        "iss": "https://login.microsoftonline.com/tenant/v2.0", "aud": "client",
        "sub": "sub", "oid": "oid-1", "tid": "tenant",
        "preferred_username": "alice@contoso.com", "iat": now, "exp": now + 3600,
    }) + "."
    cache.add({
        "client_id": "client", "scope": ["User.Read"], "token_endpoint": ENDPOINT,
        "response": {
            "access_token": "python-user-at", "expires_in": 3600, "token_type": "Bearer",
            "refresh_token": "python-rt", "id_token": id_token,
            "client_info": b64({"uid": "uid", "utid": "utid"}),
        },
        "params": {}, "data": {},
    }, now=now)
    cache.add({
        "client_id": "client", "scope": ["api://x/.default"], "token_endpoint": ENDPOINT,
        "response": {"access_token": "python-app-at", "expires_in": 3600, "token_type": "Bearer"},
        "params": {}, "data": {},
    }, now=now)
    with open(path, "w") as f:
        f.write(cache.serialize())


def read(path):
    cache = msal.SerializableTokenCache()
    with open(path) as f:
        cache.deserialize(f.read())
    C = msal.TokenCache.CredentialType
    secrets = lambda entries: sorted(e["secret"] for e in entries)
    out = {
        # acquire_token_for_client's lookup: home_account_id None.
        "app_at": secrets(cache.find(C.ACCESS_TOKEN, target=["api://x/.default"], query={
            "client_id": "client", "environment": "login.microsoftonline.com",
            "realm": "tenant", "home_account_id": None})),
        "user_at": secrets(cache.find(C.ACCESS_TOKEN, target=["User.Read"], query={
            "client_id": "client", "environment": "login.microsoftonline.com",
            "realm": "tenant", "home_account_id": "uid.utid"})),
        "rt": secrets(cache.find(C.REFRESH_TOKEN, query={
            "client_id": "client", "environment": "login.microsoftonline.com",
            "home_account_id": "uid.utid"})),
        "usernames": sorted(a["username"] for a in cache.find(C.ACCOUNT, query={
            "home_account_id": "uid.utid"})),
        "sections": sorted(json.loads(cache.serialize()).keys()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
