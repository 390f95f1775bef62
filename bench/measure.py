#!/usr/bin/env python3
"""Run a command; print its wall time (s) and peak RSS (KiB) as `SECONDS KIB`.

Usage: measure.py CMD [ARGS...]   (stdout of CMD goes to /dev/null)
"""
import resource
import subprocess
import sys
import time


def main() -> None:
    start = time.perf_counter()
    rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if rc != 0:
        sys.exit(f"command failed with exit code {rc}: {' '.join(sys.argv[1:])}")
    print(f"{wall:.3f} {peak}")


if __name__ == "__main__":
    main()
