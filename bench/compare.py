#!/usr/bin/env python3
"""Check that two Graph #$delta bodies hold the same tokens (same order, same fields).

Usage: compare.py A.json B.json
"""
import json
import sys


def load(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return json.load(f)["value"]


def main() -> None:
    a, b = load(sys.argv[1]), load(sys.argv[2])
    if len(a) != len(b):
        sys.exit(f"token counts differ: {len(a)} vs {len(b)}")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            sys.exit(f"entry {i + 1} differs: {sorted(set(x.items()) ^ set(y.items()))[:4]}")
    print(f"outputs agree: {len(a)} tokens")


if __name__ == "__main__":
    main()
