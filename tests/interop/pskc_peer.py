#!/usr/bin/env python3
"""python-pskc as an independent peer for oathvault's PSKC tests.

  pskc_peer.py read FILE MODE KEY    print "serial secret-hex algorithm digits interval counter" per key
  pskc_peer.py write FILE MODE KEY   write the golden tokens A, B, C in MODE

MODE is plain, psk (KEY = hex) or passphrase (KEY = the passphrase).
Requires python-pskc (PyPI `python-pskc`, LGPL-2.1+), installed by scripts/test.
"""
import sys

import pskc

GOLDEN = [
    ("10001001", "3132333435363738393031323334353637383930", "totp", 30, None),
    ("10001002", "d6f9df7c0110c8531d0952d8d73e1194e95b5f19", "totp", 60, None),
    ("20000001", "3132333435363738393031323334353637383930", "hotp", None, 0),
]


def read(path: str, mode: str, key: str) -> None:
    p = pskc.PSKC(path)
    if mode == "psk":
        p.encryption.key = bytes.fromhex(key)
    elif mode == "passphrase":
        p.encryption.derive_key(key)
    for k in p.keys:
        algo = (k.algorithm or "").rsplit(":", 1)[-1]
        print(k.serial, k.secret.hex(), algo, k.response_length, k.time_interval, k.counter)


def write(path: str, mode: str, key: str) -> None:
    p = pskc.PSKC()
    for serial, secret, kind, interval, counter in GOLDEN:
        k = p.add_key(
            id=serial,
            serial=serial,
            manufacturer="Deepnet Security",
            secret=bytes.fromhex(secret),
            algorithm=f"urn:ietf:params:xml:ns:keyprov:pskc:{kind}",
            response_encoding="DECIMAL",
            response_length=6,
        )
        if interval is not None:
            k.time_interval = interval
            k.time_offset = 0
        if counter is not None:
            k.counter = counter
    if mode == "psk":
        p.encryption.setup_preshared_key(key=bytes.fromhex(key))
    elif mode == "passphrase":
        p.encryption.setup_pbkdf2(key, iterations=1000)
    p.write(path)


if __name__ == "__main__":
    {"read": read, "write": write}[sys.argv[1]](*sys.argv[2:5])
