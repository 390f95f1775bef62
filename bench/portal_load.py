#!/usr/bin/env python3
"""N customers ask for their seed files at once, then a reviewer approves them all.

Usage: portal_load.py --servers URL[,URL...] --n N --mail-log LOG
                      --reviewer EMAIL --password-file F --totp-uri-file F
                      [--approvers K] [--mail-timeout S] [--out RESULT.json]

Python stdlib only: one thread and one keep-alive http.client connection per
customer, each from its own loopback address (127.77.x.y, so the portal's
per-source rate limit sees N sources, as it would on the Internet), cookies
kept by hand, forms posted with `Sec-Fetch-Site: same-origin` as a browser
does. Customer i (0-based) is `it@company-i.example` of order PO-i with
shipment SH-i, whose tokens have the serials 3i … 3i+2 (10 digits); it finds
the order by its PO, invoice or shipment number (i mod 3), on server
i mod len(servers). Each step is timed as a browser walks it: the POST and
the GET of the page it redirects to:

  find        POST /request             + GET /request/shipments
  shipments   POST /request/shipments   + GET /request/protection
  protection  POST /request/protection  + GET /request/format   (password)
  format      POST /request/format      + GET /request/summary  (entra-csv or jsonl)
  submit      POST /request/submit

Then the reviewer signs in (password, then the TOTP code computed from the
enrolment URI), reads the queue of submitted requests and approves them
with K parallel connections spread over the servers, until the queue is
empty. Last, it waits until the SMTP sink's LOG holds every mail: per
request "received" (customer), "new request" (delivery team) and one link
mail per file; each exactly once. Prints the figures; writes them as JSON
to --out; exits 1 on any error, lost request, missing or repeated mail.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import re
import struct
import sys
import threading
import time
import urllib.parse

PASSWORD = "Tulip-Orbit-42-river"
STEPS = ["find", "shipments", "protection", "format", "submit"]


class Browser:
    """One keep-alive connection with a cookie jar, posting as a same-origin form."""

    def __init__(self, base, source=None, timeout=60):
        u = urllib.parse.urlsplit(base)
        self.host = u.netloc
        self.conn = http.client.HTTPConnection(
            u.hostname, u.port, timeout=timeout,
            source_address=(source, 0) if source else None)
        self.cookies = {}

    def call(self, method, path, form=None):
        headers = {"Host": self.host, "Sec-Fetch-Site": "same-origin"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for c in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = c.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in c or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return resp.status, resp.headers.get("Location", ""), text

    def expect(self, method, path, status, form=None, location=None):
        got, loc, text = self.call(method, path, form)
        if got != status or (location is not None and not loc.startswith(location)):
            raise RuntimeError(
                f"{method} {path}: {got} {loc!r}, expected {status} {location!r}: "
                f"{' '.join(re.sub(r'<[^>]+>', ' ', text).split())[:300]}")
        return loc, text

    def close(self):
        self.conn.close()


def totp(uri, at):
    """The code an authenticator app shows at `at` for an otpauth:// URI (SHA-1, 6 digits, 30 s)."""
    b32 = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["secret"][0]
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def customer(i, base, out):
    b = Browser(base, source=f"127.77.{i // 250}.{i % 250 + 1}")
    times = {}
    try:
        identifier = (f"PO-{i}", f"INV-{i}", f"SH-{i}")[i % 3]
        t = time.perf_counter()
        b.expect("POST", "/request", 303, {"identifier": identifier, "email": f"IT@Company-{i}.example"},
                 "/request/shipments")
        _, page = b.expect("GET", "/request/shipments", 200)
        times["find"] = time.perf_counter() - t
        picks = re.findall(r'name="pick" value="(\d+)"', page)
        if len(picks) != 1:
            raise RuntimeError(f"customer {i}: {len(picks)} shipments listed, expected 1")
        t = time.perf_counter()
        b.expect("POST", "/request/shipments", 303,
                 {"pick": picks[0], f"serial-{picks[0]}": f"{3 * i + 1:010d}"}, "/request/protection")
        b.expect("GET", "/request/protection", 200)
        times["shipments"] = time.perf_counter() - t
        t = time.perf_counter()
        b.expect("POST", "/request/protection", 303,
                 {"split": "one", "mode": "password", "password": PASSWORD, "password2": PASSWORD,
                  "pgp_key": ""}, "/request/format")
        b.expect("GET", "/request/format", 200)
        times["protection"] = time.perf_counter() - t
        t = time.perf_counter()
        b.expect("POST", "/request/format", 303,
                 {"format": ("entra-csv", "jsonl")[i % 2], "encoding": "base32", "action": "continue"},
                 "/request/summary")
        b.expect("GET", "/request/summary", 200)
        times["format"] = time.perf_counter() - t
        t = time.perf_counter()
        _, page = b.expect("POST", "/request/submit", 200)
        times["submit"] = time.perf_counter() - t
        ref = re.search(r"Your request (R-[0-9A-Z]{4}-[0-9A-Z]{4}) was submitted", page)
        if not ref:
            raise RuntimeError(f"customer {i}: no reference on the submitted page")
        out[i] = {"times": times, "reference": ref.group(1)}
    except (OSError, http.client.HTTPException, RuntimeError) as e:
        out[i] = {"times": times, "error": f"customer {i} on {base}: {e}"}
    finally:
        b.close()


def run_threads(targets):
    threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def review(servers, email, password, uri, approvers, errors):
    """Signs in once (the session works on every server: it is in the shared
    database) and approves every submitted request; returns the approval
    latencies and how many were approved."""
    b = Browser(servers[0])
    b.expect("POST", "/signin", 303, {"email": email, "password": password}, "/signin/code")
    b.expect("POST", "/signin/code", 303, {"code": totp(uri, time.time())}, "/")
    session = b.cookies["__Host-ov_session"]
    latencies, approved = [], 0
    for _ in range(1000):
        _, page = b.expect("GET", "/admin/requests?state=submitted", 200)
        ids = sorted(set(re.findall(r'href="/admin/requests/(\d+)"', page)), key=int)
        if not ids:
            break
        lock = threading.Lock()

        def approve(k):
            c = Browser(servers[k % len(servers)])
            c.cookies["__Host-ov_session"] = session
            try:
                for rid in ids[k::approvers]:
                    t = time.perf_counter()
                    c.expect("POST", f"/admin/requests/{rid}/approve", 303, {}, f"/admin/requests/{rid}?notice=Approved")
                    with lock:
                        latencies.append(time.perf_counter() - t)
            except (OSError, http.client.HTTPException, RuntimeError) as e:
                with lock:
                    errors.append(f"approver {k}: {e}")
            finally:
                c.close()

        run_threads([(approve, (k,)) for k in range(min(approvers, len(ids)))])
        approved += len(ids)
        if errors:
            break
    b.close()
    return latencies, approved


def mail_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n").split("\t")[0] for line in f if line.strip()]
    except FileNotFoundError:
        return []


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--mail-log", required=True)
    ap.add_argument("--reviewer", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--totp-uri-file", required=True)
    ap.add_argument("--approvers", type=int, default=4)
    ap.add_argument("--mail-timeout", type=float, default=120)
    ap.add_argument("--label", default="")
    ap.add_argument("--out")
    a = ap.parse_args()
    servers = a.servers.split(",")
    n = a.n
    errors = []

    start = time.perf_counter()
    results = [None] * n
    run_threads([(customer, (i, servers[i % len(servers)], results)) for i in range(n)])
    t_customers = time.perf_counter() - start
    errors += [r["error"] for r in results if "error" in r]
    refs = [r["reference"] for r in results if "reference" in r]
    if len(set(refs)) != len(refs):
        errors.append("two submissions got the same reference")

    t = time.perf_counter()
    password = open(a.password_file, encoding="utf-8").read().strip()
    uri = open(a.totp_uri_file, encoding="utf-8").read().strip()
    approve_lat, approved = [], 0
    if not errors:
        try:
            approve_lat, approved = review(servers, a.reviewer, password, uri, a.approvers, errors)
        except (OSError, http.client.HTTPException, RuntimeError) as e:
            errors.append(f"reviewer: {e}")
    t_review = time.perf_counter() - t
    if not errors and approved != n:
        errors.append(f"approved {approved} requests, expected {n}")

    # Every request: "received", "new request" and one link mail (one file each).
    t = time.perf_counter()
    deadline = t + a.mail_timeout
    lines = []
    while time.perf_counter() < deadline and not errors:
        lines = mail_lines(a.mail_log)
        if len(lines) >= 3 * n:
            break
        time.sleep(0.2)
    t_mail = time.perf_counter() - t
    time.sleep(0.5)  # a repeated mail right behind the last one is seen too
    lines = mail_lines(a.mail_log)
    received = [s for s in lines if re.fullmatch(r"Seed file request R-\S+ received", s)]
    new = [s for s in lines if s.startswith("New seed file request ")]
    links = [s for s in lines if re.match(r"Seed file R-\S+ ready: ", s)]
    mails = {"total": len(lines), "distinct": len(set(lines)), "received": len(received),
             "new_request": len(new), "links": len(links)}
    if not errors:
        if len(lines) != len(set(lines)):
            errors.append(f"{len(lines) - len(set(lines))} mail(s) sent more than once")
        refs_of = lambda xs: sorted(re.search(r"R-[0-9A-Z]{4}-[0-9A-Z]{4}", s).group(0) for s in xs)
        for name, xs in (("received", received), ("new request", new), ("link", links)):
            if refs_of(set(xs)) != sorted(refs):
                errors.append(f"{name} mails: {len(set(xs))} distinct for {len(refs)} requests "
                              f"(after {t_mail:.1f} s)")

    total = time.perf_counter() - start
    step_times = {s: [r["times"][s] for r in results if s in r["times"]] for s in STEPS}
    out = {
        "label": a.label, "n": n, "servers": len(servers), "errors": errors,
        "customers_s": t_customers, "review_s": t_review, "mail_s": t_mail, "total_s": total,
        "requests_per_s": n / t_customers, "approvals_per_s": approved / t_review if t_review else 0,
        "steps": {s: {"p50": pct(v, 50), "p95": pct(v, 95), "max": max(v) if v else float("nan")}
                  for s, v in step_times.items()},
        "approve": {"p50": pct(approve_lat, 50), "p95": pct(approve_lat, 95),
                    "max": max(approve_lat) if approve_lat else float("nan")},
        "mails": mails, "references": refs,
    }
    print(f"{a.label}: {n} customers on {len(servers)} server(s): submitted in {t_customers:.2f} s "
          f"({n / t_customers:.1f} requests/s); {approved} approved in {t_review:.2f} s; "
          f"all {len(lines)} mails at the sink {t_mail:.2f} s later; total {total:.2f} s")
    for s in STEPS + ["approve"]:
        v = out["steps"][s] if s in out["steps"] else out["approve"]
        print(f"  {s:<10} p50 {v['p50'] * 1000:8.1f} ms   p95 {v['p95'] * 1000:8.1f} ms   max {v['max'] * 1000:8.1f} ms")
    print(f"  mails      {mails}")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
    for e in errors[:20]:
        print("error:", e, file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
