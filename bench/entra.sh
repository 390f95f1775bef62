#!/usr/bin/env bash
# `oathvault entra push` of N tokens to the local Entra-compatible directory
# (release build, SQLite, loopback) against the way public scripts upload:
# one POST per token, sequentially (bench/graph_post_each.py), in the same
# run, each on a fresh directory. Both must end with exactly N devices.
#
# LATENCIES lists round trips (ms) the directory adds to every Graph answer
# (default "0 5"): 0 is bare loopback, where only the server's work per
# token counts; a few ms stands in for the network to Microsoft's cloud,
# which every request pays there.
#
# The push runs with --chunk 1000: the local directory takes up to 1,000
# tokens a #$delta request (its documented maximum; the default, 500, is
# kept for Microsoft's cloud, whose limit is not documented).
#
# Usage: bench/entra.sh [N]   (default 10000; RUNS=k, default 3, median)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
runs="${RUNS:-3}"
latencies="${LATENCIES:-0 5}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-entra.XXXXXX")"
. bench/directory_lib.sh
trap 'stop_directory; rm -rf "$work"' EXIT
python3 bench/gen_tokens.py "$n" "$work/tokens.csv"

count() {
  "$ov" entra --tenant "$tenant" --client-id "$client" --client-secret-file "$work/secret" \
    --authority "http://127.0.0.1:$port" --graph-url "http://127.0.0.1:$port/beta" list --format csv | tail -n +2 | cut -d, -f1 | sort -u | wc -l
}

for latency in $latencies; do
ours=(); theirs=()
for i in $(seq "$runs"); do
  fresh_directory "$latency"
  read -r t _ < <(python3 bench/measure.py "$ov" entra --tenant "$tenant" --client-id "$client" \
    --client-secret-file "$work/secret" --authority "http://127.0.0.1:$port" \
    --graph-url "http://127.0.0.1:$port/beta" push --quiet --chunk 1000 "$work/tokens.csv")
  [ "$(count)" -eq "$n" ] || { echo "oathvault left $(count) devices, expected $n" >&2; exit 1; }
  ours+=("$t")
  fresh_directory "$latency"
  read -r t c < <(cd bench && python3 graph_post_each.py "http://127.0.0.1:$port" "$tenant" "$client" "$secret" "$work/tokens.csv")
  [ "$(count)" -eq "$n" ] || { echo "one-by-one left $(count) devices, expected $n" >&2; exit 1; }
  theirs+=("$t")
done

python3 - "$n" "$latency" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
n, lat = int(sys.argv[1]), sys.argv[2]
o = [float(x) for x in sys.argv[3].split()]
t = [float(x) for x in sys.argv[4].split()]
mo, mt = statistics.median(o), statistics.median(t)
print(f"latency {lat} ms per Graph answer:")
print(f"  oathvault entra push : {mo:7.3f} s median of {len(o)} ({', '.join(f'{x:.3f}' for x in o)}), {n/mo:,.0f} tokens/s (whole command: read, validate, list, upload; --chunk 1000)")
print(f"  one POST per token   : {mt:7.3f} s median of {len(t)} ({', '.join(f'{x:.3f}' for x in t)}), {n/mt:,.0f} tokens/s (upload loop only)")
print(f"  ratio                : {mt/mo:.1f}x (target >= 50x); both left exactly {n} devices")
PY
done
