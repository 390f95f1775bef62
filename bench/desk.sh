#!/usr/bin/env bash
# The help desk's inventory page with N tokens in the tenant (default
# 100,000): the Entra-compatible directory on SQLite gets N devices through
# Graph (bench/graph_load.py, which also times listing them all by
# @odata.nextLink — what a console without its own copy would do for every
# page view); a desk (SQLite) syncs its copy through real Graph calls; then
# bench/desk_load.py signs in and times each kind of inventory page over
# loopback (first, middle and last page, a status filter, a serial
# search, a name search). Target: each under 50 ms, median and worst.
#
# Usage: bench/desk.sh [N]   (REPEAT=k requests per kind, default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-desk.XXXXXX")"
. bench/directory_lib.sh
desk=""
trap 'if [ -n "$desk" ]; then kill "$desk" 2>/dev/null; wait "$desk" 2>/dev/null || true; fi; stop_directory; rm -rf "$work"' EXIT

fresh_directory
read -r _ create _ listing _ count < <(python3 bench/graph_load.py "http://127.0.0.1:$port" "$tenant" "$client" "$secret" "$n")
echo "directory: $count devices created in ${create} s; listing them all through Graph (nextLink): ${listing} s"

dd="$work/desk"
printf 'bench-desk-password-1' > "$work/operator.pw"
"$ov" desk --data-dir "$dd" init > /dev/null
uri="$("$ov" desk --data-dir "$dd" add-operator --email ops@bench.example --name Ops --role administrator --password-file "$work/operator.pw" | grep '^otpauth://')"
totp="$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["secret"][0])' "$uri")"
dport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$ov" desk --data-dir "$dd" --tenant "$tenant" --client-id "$client" --client-secret-file "$work/secret" \
  --authority "http://127.0.0.1:$port" --graph-url "http://127.0.0.1:$port/beta" \
  serve --listen "127.0.0.1:$dport" --sync-every 3600 > "$work/desk.log" 2>&1 &
desk=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$dport") 2>/dev/null && break; sleep 0.1; done
domain="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["domain"])' "$work/demo.json")"
python3 bench/desk_load.py "http://127.0.0.1:$dport" ops@bench.example "$(cat "$work/operator.pw")" "$totp" "$n" "$domain" "${REPEAT:-20}"
echo "target: first, middle and last page, a status filter, a serial and a name search each < 50 ms (median and worst) with $n tokens (a page is one request to the desk over loopback; the copy is refreshed from Graph in the background)"
