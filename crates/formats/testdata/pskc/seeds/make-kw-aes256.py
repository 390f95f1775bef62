#!/usr/bin/env python3
"""Writes kw-aes256.pskcxml with python-pskc 1.4 (run once; the output is kept).

Pre-shared key 000102…1f (32 bytes), AES key wrap (kw-aes256) for the
secrets and the MAC key, HMAC-SHA256 ValueMACs. Keys: a TOTP with a
two-day step (serial 30000001), an HOTP (30000002, counter 7) and a TOTP
with neither SerialNo nor Id. The 20-byte secrets are not a multiple of 8
bytes, so python-pskc wraps them with RFC 5649 padding under the kw-aes256
URI; the 32-byte MAC key is plain RFC 3394.
"""
import os
import sys

import pskc

SECRET = bytes.fromhex("3132333435363738393031323334353637383930")
p = pskc.PSKC()
k = p.add_key(id="30000001", serial="30000001", manufacturer="Example Vendor",
              secret=SECRET, algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
              response_encoding="DECIMAL", response_length=6)
k.time_interval = 172800
k.time_offset = 0
k = p.add_key(id="30000002", serial="30000002", manufacturer="Example Vendor",
              secret=bytes(range(20)), algorithm="urn:ietf:params:xml:ns:keyprov:pskc:hotp",
              response_encoding="DECIMAL", response_length=8)
k.counter = 7
k = p.add_key(secret=bytes(range(100, 120)), algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp",
              response_encoding="DECIMAL", response_length=6)
k.time_interval = 30
p.encryption.setup_preshared_key(key=bytes(range(32)), algorithm="kw-aes256")
p.mac.setup(algorithm="hmac-sha256")
p.write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "kw-aes256.pskcxml"))
