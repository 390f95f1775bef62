#!/usr/bin/env bash
# The Entra-compatible directory under bulk load, on its embedded SQLite
# store, over loopback HTTP: N devices created through Graph's
# `PATCH …/hardwareOathDevices` with `@context: #$delta` in chunks of 1000,
# then every device listed by following `@odata.nextLink` (1000 a page).
# The client (bench/graph_load.py, Python stdlib, one keep-alive
# connection) checks that exactly N distinct serials come back.
#
# Usage: bench/directory.sh [N]   (default 100000; RUNS=k, default 3, median)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
runs="${RUNS:-3}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-directory.XXXXXX")"
. bench/directory_lib.sh
trap 'stop_directory; rm -rf "$work"' EXIT

creates=(); lists=()
for i in $(seq "$runs"); do
  fresh_directory
  read -r _ c _ l _ count < <(python3 bench/graph_load.py "http://127.0.0.1:$port" "$tenant" "$client" "$secret" "$n")
  stop_directory
  creates+=("$c"); lists+=("$l")
done

python3 - "$n" "${creates[*]}" "${lists[*]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
for name, xs in (("bulk create (#$delta)", sys.argv[2]), ("list all (nextLink)  ", sys.argv[3])):
    t = [float(x) for x in xs.split()]
    m = statistics.median(t)
    print(f"{name}: {m:7.3f} s median of {len(t)} ({', '.join(f'{x:.3f}' for x in t)}), {n/m:,.0f} devices/s")
print(f"target               : each < 30 s for 100,000 devices on SQLite; every run listed exactly {n} distinct serials")
PY
