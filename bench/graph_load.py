#!/usr/bin/env python3
"""Bulk create and list hardware OATH devices through the Graph wire format.

Usage: graph_load.py BASE TENANT CLIENT_ID CLIENT_SECRET N [CHUNK]

Gets a client-credentials token from BASE/TENANT/oauth2/v2.0/token, creates
N TOTP devices with PATCH .../hardwareOathDevices and `@context: #$delta`
in chunks of CHUNK (default 1000, sequential, one keep-alive connection),
then lists them all following every @odata.nextLink. Prints
`create SECONDS list SECONDS count`; exits non-zero on any error or when the
listing does not hold exactly N distinct serials.
"""
import base64
import hashlib
import http.client
import json
import sys
import time
import urllib.parse

DEVICES = "/beta/directory/authenticationMethodDevices/hardwareOathDevices"


def request(conn, method, path, body=None, headers=None, form=False):
    headers = dict(headers or {})
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
    else:
        data = None
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    if resp.status >= 300:
        sys.exit(f"{method} {path[:80]}: {resp.status} {raw[:300]!r}")
    return json.loads(raw) if raw else None


def sign_in(base, tenant, client_id, client_secret):
    """A keep-alive connection to BASE and the bearer header of a
    client-credentials token."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    tok = request(conn, "POST", f"/{tenant}/oauth2/v2.0/token", {
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": client_secret, "scope": "https://graph.microsoft.com/.default",
    }, form=True)
    return conn, {"Authorization": "Bearer " + tok["access_token"]}


def secret(i):
    # 20 deterministic bytes per token, Base32 without padding.
    return base64.b32encode(hashlib.sha1(b"bench-%d" % i).digest()).decode()


def main():
    base, tenant, client_id, client_secret, n = sys.argv[1:6]
    n = int(n)
    chunk = int(sys.argv[6]) if len(sys.argv) > 6 else 1000
    conn, auth = sign_in(base, tenant, client_id, client_secret)

    start = time.perf_counter()
    for first in range(0, n, chunk):
        value = [{
            "@contentId": str(k + 1), "serialNumber": f"BENCH{i:08d}",
            "manufacturer": "Bench", "model": "TOTP-6", "secretKey": secret(i),
            "timeIntervalInSeconds": "30", "hashFunction": "hmacsha1",
        } for k, i in enumerate(range(first, min(first + chunk, n)))]
        out = request(conn, "PATCH", DEVICES, {"@context": "#$delta", "value": value}, auth)
        if len(out["value"]) != len(value):
            sys.exit(f"chunk at {first}: {len(out['value'])} created of {len(value)}")
    create = time.perf_counter() - start

    start = time.perf_counter()
    serials = set()
    path = DEVICES
    while path:
        page = request(conn, "GET", path, None, auth)
        serials.update(d["serialNumber"] for d in page["value"])
        link = page.get("@odata.nextLink")
        path = None
        if link:
            u = urllib.parse.urlsplit(link)
            path = u.path + ("?" + u.query if u.query else "")
    listing = time.perf_counter() - start
    if len(serials) != n:
        sys.exit(f"listed {len(serials)} distinct serials, expected {n}")
    print(f"create {create:.3f} list {listing:.3f} count {len(serials)}")


if __name__ == "__main__":
    main()
