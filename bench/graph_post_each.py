#!/usr/bin/env python3
"""Upload an Entra CSV the way public scripts do: one POST per token, one
after another (CarlH2's Create-HardwareOATHTokens1by1.ps1, Token2's
token_inventory), without their sleeps, over one keep-alive connection.

Usage: graph_post_each.py BASE TENANT CLIENT_ID CLIENT_SECRET FILE.csv

Prints `SECONDS COUNT`; exits non-zero on any error.
"""
import csv
import sys
import time

from graph_load import DEVICES, request, sign_in


def main():
    base, tenant, client_id, client_secret, path = sys.argv[1:6]
    conn, auth = sign_in(base, tenant, client_id, client_secret)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    start = time.perf_counter()
    for row in rows:
        request(conn, "POST", DEVICES, {
            "serialNumber": row["serial number"], "manufacturer": row["manufacturer"],
            "model": row["model"], "secretKey": row["secret key"],
            "timeIntervalInSeconds": int(row["time interval"]), "hashFunction": "hmacsha1",
        }, auth)
    print(f"{time.perf_counter() - start:.3f} {len(rows)}")


if __name__ == "__main__":
    main()
