#!/usr/bin/env python3
"""Write N synthetic, deterministic TOTP tokens as an Entra MFA CSV.

Usage: gen_tokens.py N OUT.csv [--seed S]

The secrets come from SHA-1 over (seed, index): the same N and seed always give
the same file, byte for byte. Serials are zero-padded so leading zeros are kept.
Only the Python standard library is used.
"""
import argparse
import base64
import hashlib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", default="oathvault-bench")
    args = ap.parse_args()
    models = ["SafeID/Classic", "SafeID/Enterprise", "C202", "miniOTP-1"]
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        f.write("upn,serial number,secret key,time interval,manufacturer,model\r\n")
        for i in range(args.n):
            secret = hashlib.sha1(f"{args.seed}:{i}".encode()).digest()
            b32 = base64.b32encode(secret).decode().rstrip("=")
            step = 30 if i % 4 else 60
            model = models[i % len(models)]
            f.write(f",{i:010d},{b32},{step},Deepnet Security,{model}\r\n")


if __name__ == "__main__":
    main()
