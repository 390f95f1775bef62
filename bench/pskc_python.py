#!/usr/bin/env python3
"""The peer for bench/pskc.sh: python-pskc writing and reading PSKC with a pre-shared key.

  pskc_python.py write IN.csv OUT.xml KEYHEX   tokens of an Entra CSV → PSKC (AES-128-CBC + HMAC-SHA1)
  pskc_python.py read IN.xml KEYHEX            decrypt every secret (prints the count)
"""
import base64
import csv
import sys

import pskc


def write(src: str, dst: str, key: str) -> None:
    p = pskc.PSKC()
    with open(src, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            secret = row["secret key"]
            secret = base64.b32decode(secret + "=" * (-len(secret) % 8))
            k = p.add_key(
                id=row["serial number"],
                serial=row["serial number"],
                manufacturer=row["manufacturer"],
                model=row["model"],
                secret=secret,
                algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
                response_encoding="DECIMAL",
                response_length=6,
            )
            k.time_interval = int(row["time interval"])
    p.encryption.setup_preshared_key(key=bytes.fromhex(key))
    p.write(dst)


def read(src: str, key: str) -> None:
    p = pskc.PSKC(src)
    p.encryption.key = bytes.fromhex(key)
    n = sum(1 for k in p.keys if k.secret)
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(*sys.argv[2:5])
    else:
        read(*sys.argv[2:4])
