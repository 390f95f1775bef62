#!/usr/bin/env python3
"""The peer: what vendors' CSV2JSON scripts do, in the Python standard library.

Usage: csv2json.py IN.csv OUT.json

Reads an Entra MFA CSV with csv.DictReader and writes the Microsoft Graph
`#$delta` bulk body with json.dump (C-accelerated encoder, no indent). Like the
published PowerShell/PHP scripts it normalises the Base32 secret (strip spaces
and '=', upper-case) and checks it against the Base32 alphabet and the 30/60 s
interval, but does not decode it.
"""
import csv
import json
import re
import sys

B32 = re.compile(r"^[A-Z2-7]+$")


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    value = []
    with open(src, newline="", encoding="utf-8-sig") as f:
        for n, row in enumerate(csv.DictReader(f), start=1):
            row = {k.strip().lower().replace("timeinterval", "time interval"): v for k, v in row.items()}
            secret = row["secret key"].replace(" ", "").replace("=", "").upper()
            if not B32.match(secret):
                sys.exit(f"line {n + 1}: secret key is not Base32")
            interval = int(row["time interval"])
            if interval not in (30, 60):
                sys.exit(f"line {n + 1}: time interval must be 30 or 60")
            value.append({
                "@contentId": str(n),
                "serialNumber": row["serial number"],
                "manufacturer": row["manufacturer"],
                "model": row["model"],
                "secretKey": secret,
                "timeIntervalInSeconds": interval,
                "hashFunction": "hmacsha1",
            })
    with open(dst, "w", encoding="utf-8") as f:
        json.dump({"@context": "#$delta", "value": value}, f)


if __name__ == "__main__":
    main()
