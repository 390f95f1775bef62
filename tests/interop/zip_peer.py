#!/usr/bin/env python3
"""pyzipper, an AES-ZIP implementation nobody here wrote, as a test peer.

  zip_peer.py read ZIP PASSWORD        -> prints "name<TAB>sha256" per entry
  zip_peer.py write ZIP PASSWORD NAME=FILE...   (AES-256, deflated)
"""
import hashlib
import sys

import pyzipper


def main() -> None:
    cmd, path, password = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    if cmd == "read":
        with pyzipper.AESZipFile(path) as z:
            z.setpassword(password)
            for name in z.namelist():
                print(f"{name}\t{hashlib.sha256(z.read(name)).hexdigest()}")
    elif cmd == "write":
        with pyzipper.AESZipFile(path, "w", compression=pyzipper.ZIP_DEFLATED,
                                 encryption=pyzipper.WZ_AES) as z:
            z.setpassword(password)
            z.setencryption(pyzipper.WZ_AES, nbits=256)
            for spec in sys.argv[4:]:
                name, file = spec.split("=", 1)
                with open(file, "rb") as f:
                    z.writestr(name, f.read())
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
