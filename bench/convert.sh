#!/usr/bin/env bash
# End-to-end conversion bench: N synthetic tokens (deterministic) as an Entra CSV,
# converted to Entra JSON by `oathvault convert` and by the Python stdlib peer
# (bench/csv2json.py, what vendors' CSV2JSON scripts do), in the same run.
# Prints both times, peak memory, and the ratio; checks both outputs agree.
#
# Usage: bench/convert.sh [N]   (default 1000000; RUNS=k runs each tool k
# times, alternating, and reports medians — default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${RUNS:-3}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 bench/gen_tokens.py "$n" "$work/tokens.csv"
printf 'input: %s tokens, %s bytes (%s)\n' "$n" "$(stat -c %s "$work/tokens.csv")" "$work/tokens.csv"

# Warm the page cache so both tools read from memory.
cat "$work/tokens.csv" > /dev/null

ov_times=(); py_times=(); ov_peak=0; py_peak=0
for _ in $(seq "$runs"); do
  rm -f "$work/oathvault.json" "$work/python.json"
  read -r t kib < <(python3 bench/measure.py "$ov" convert -q "$work/tokens.csv" --to entra-json -o "$work/oathvault.json")
  ov_times+=("$t"); [ "$kib" -gt "$ov_peak" ] && ov_peak=$kib
  read -r t kib < <(python3 bench/measure.py python3 bench/csv2json.py "$work/tokens.csv" "$work/python.json")
  py_times+=("$t"); [ "$kib" -gt "$py_peak" ] && py_peak=$kib
done

python3 bench/compare.py "$work/oathvault.json" "$work/python.json"
python3 - "$ov_peak" "$py_peak" "${ov_times[*]}" "${py_times[*]}" <<'PY'
import statistics, sys
ov_kib, py_kib = int(sys.argv[1]), int(sys.argv[2])
ov = [float(x) for x in sys.argv[3].split()]
py = [float(x) for x in sys.argv[4].split()]
ov_s, py_s = statistics.median(ov), statistics.median(py)
print(f"runs              : {len(ov)} each, alternating; medians below")
print(f"oathvault convert : {ov_s:8.3f} s   peak {ov_kib / 1024:7.1f} MiB   (all: {', '.join(f'{t:.3f}' for t in ov)})")
print(f"python csv2json   : {py_s:8.3f} s   peak {py_kib / 1024:7.1f} MiB   (all: {', '.join(f'{t:.2f}' for t in py)})")
print(f"ratio             : {py_s / max(ov_s, 1e-9):8.1f}x faster (target >= 20x; memory target < 64 MiB)")
PY
