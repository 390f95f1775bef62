#!/usr/bin/env python3
"""Times the help desk's inventory page over loopback.

Usage: desk_load.py DESK_BASE EMAIL PASSWORD TOTP_BASE32 N DOMAIN [REPEAT]

Signs in (password, then the TOTP code computed here), waits until the
desk's copy holds N tokens (prints how long the sync took, from the moment
the desk was up), then requests each kind of inventory page REPEAT times
(default 20) on one keep-alive connection and prints, per kind, the p50,
p95 and worst time in milliseconds, and the bytes of the page. Exits
non-zero when a page is not a 200 or does not show what it should.
"""
import base64
import hashlib
import hmac
import http.client
import re
import statistics
import struct
import sys
import time
import urllib.parse


def totp(b32):
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def cookie(resp, name):
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";")[0]
    sys.exit(f"no {name} cookie")


def main():
    base, email, password, secret, n, domain = sys.argv[1:7]
    n = int(n)
    repeat = int(sys.argv[7]) if len(sys.argv) > 7 else 20
    host = urllib.parse.urlparse(base).netloc
    conn = http.client.HTTPConnection(host, timeout=60)

    def post(path, form, jar=None):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if jar:
            headers["Cookie"] = jar
        conn.request("POST", path, urllib.parse.urlencode(form), headers)
        r = conn.getresponse()
        r.read()
        return r

    r = post("/signin", {"email": email, "password": password})
    if r.status != 303:
        sys.exit(f"sign-in: {r.status}")
    r = post("/signin/code", {"code": totp(secret)}, cookie(r, "__Host-ovd_pending"))
    if r.status != 303:
        sys.exit(f"code: {r.status}")
    jar = cookie(r, "__Host-ovd_session")

    def get(path):
        t = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": jar})
        r = conn.getresponse()
        body = r.read().decode()
        dt = time.perf_counter() - t
        if r.status != 200:
            sys.exit(f"{path}: {r.status}")
        return dt, body

    t0 = time.perf_counter()
    while True:
        _, body = get("/tokens")
        if f" of {n}:" in body:
            break
        if time.perf_counter() - t0 > 600:
            sys.exit("the desk never held all the tokens")
        time.sleep(0.2)
    print(f"sync-visible {time.perf_counter() - t0:.2f}")

    # Three tokens for Ben Okafor, through the desk (as a help desk would):
    # the name search below must find exactly them.
    for serial in ("BENCH00000100", "BENCH00000101", "BENCH00000102"):
        _, body = get(f"/tokens?q={serial}")
        m = re.search(r'href="/tokens/([^"?]+)"', body)
        if not m:
            sys.exit(f"{serial} is not in the desk's copy")
        r = post(f"/tokens/{m.group(1)}/assign", {"upn": f"ben@{domain}", "code": ""}, jar)
        if r.status != 303:
            sys.exit(f"assigning {serial}: {r.status}")

    middle = f"BENCH{n // 2:08d}"
    kinds = [
        ("first page", "/tokens", f"50 of {n}:"),
        ("middle page", f"/tokens?after={middle}&after_id=", f"50 of {n}:"),
        ("last page", "/tokens?last=true", f" of {n}:"),
        ("status filter", "/tokens?status=available", " of "),
        ("search serial", "/tokens?q=BENCH00000777", "1 of 1:"),
        ("search name", "/tokens?q=Okafor", "3 of 3:"),
        ("name + serial", "/tokens?q=okafor+bench00000101", "1 of 1:"),
        ("search no match", "/tokens?q=nosuchthing", "No tokens match"),
    ]
    for name, path, must in kinds:
        times = []
        size = 0
        for _ in range(repeat):
            dt, body = get(path)
            if must not in body:
                sys.exit(f"{path}: the page does not show {must!r}")
            times.append(dt * 1000)
            size = len(body)
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        m = re.search(r"(\d+) of (\d+)", body)
        shown = m.group(0) if m else "0 rows"
        print(f"{name:16s} p50 {statistics.median(times):7.1f} ms  p95 {p95:7.1f} ms  max {times[-1]:7.1f} ms  {size:7d} bytes  ({shown})")


main()
