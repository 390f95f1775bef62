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
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export OATHVAULT_DATA_DIR="$work/data"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

creates=(); lists=()
for i in $(seq "$runs"); do
  rm -rf "$OATHVAULT_DATA_DIR"
  "$ov" directory seed-demo --json > "$work/demo.json" 2> "$work/seed.log"
  read -r tenant client secret < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["tenant_id"], d["client_id"], d["client_secret"])' "$work/demo.json")
  "$ov" directory serve --listen "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  read -r _ c _ l _ count < <(python3 bench/graph_load.py "http://127.0.0.1:$port" "$tenant" "$client" "$secret" "$n")
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
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
