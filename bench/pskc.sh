#!/usr/bin/env bash
# PSKC with a pre-shared key: N tokens written and read by oathvault and by
# python-pskc (the peer), same data, same run; times, peak memory, ratios.
#
# Usage: bench/pskc.sh [N]   (default 100000; RUNS=k runs oathvault k times
# and reports its medians — default 3; python-pskc, at ~90 s a run, runs once)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-pskc.XXXXXX")"
trap 'rm -rf "$work"' EXIT
key=12345678901234567890123456789012
printf '%s\n' "$key" > "$work/psk.hex"

python3 bench/gen_tokens.py "$n" "$work/tokens.csv"
runs="${RUNS:-3}"
# Median time and peak memory (KiB) of `runs` runs of a command.
median() {
  local times=() peak=0 t kib
  for _ in $(seq "$runs"); do
    read -r t kib < <(python3 bench/measure.py "$@")
    times+=("$t"); [ "$kib" -gt "$peak" ] && peak=$kib
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" "$peak"
}
read -r ow_s ow_kib < <(median "$ov" convert -q --force "$work/tokens.csv" --to pskc --pskc-psk-file "$work/psk.hex" -o "$work/ours.xml")
read -r or_s or_kib < <(median "$ov" convert -q --force "$work/ours.xml" --psk-file "$work/psk.hex" --to jsonl -o "$work/ours.jsonl")
read -r pw_s pw_kib < <(python3 bench/measure.py python3 bench/pskc_python.py write "$work/tokens.csv" "$work/theirs.xml" "$key")
# Both read the same file (ours); python-pskc must find every secret in it.
read -r pr_s pr_kib < <(python3 bench/measure.py python3 bench/pskc_python.py read "$work/ours.xml" "$key")
got=$(python3 bench/pskc_python.py read "$work/ours.xml" "$key")
[ "$got" = "$n" ] || { echo "python-pskc found $got secrets in our file, expected $n" >&2; exit 1; }
# And we read python-pskc's file.
"$ov" convert -q "$work/theirs.xml" --psk-file "$work/psk.hex" --to jsonl -o "$work/theirs.jsonl"
[ "$(wc -l < "$work/theirs.jsonl")" = "$n" ] || { echo "oathvault did not read every key of python-pskc's file" >&2; exit 1; }
RUNS="$runs" python3 - "$n" "$ow_s" "$ow_kib" "$or_s" "$or_kib" "$pw_s" "$pw_kib" "$pr_s" "$pr_kib" <<'PY'
import os, sys
n = sys.argv[1]
ow, owk, orr, ork, pw, pwk, pr, prk = (float(x) for x in sys.argv[2:])
print(f"{n} tokens, PSKC pre-shared key (AES-128-CBC + HMAC-SHA1); oathvault: median of {os.environ['RUNS']} runs")
print(f"write: oathvault {ow:7.3f} s {owk/1024:7.1f} MiB | python-pskc {pw:7.2f} s {pwk/1024:7.1f} MiB | {pw/max(ow,1e-9):6.1f}x")
print(f"read : oathvault {orr:7.3f} s {ork/1024:7.1f} MiB | python-pskc {pr:7.2f} s {prk/1024:7.1f} MiB | {pr/max(orr,1e-9):6.1f}x")
print("targets: each >= 50x, oathvault < 100 MiB")
PY
