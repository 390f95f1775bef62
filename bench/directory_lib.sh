# Sourced by bench scripts that need the Entra-compatible directory (after
# bench/lib.sh, with $work set): fresh_directory [LATENCY_MS] stops the one
# running, starts a new one on an empty SQLite data directory with the demo
# tenant, on $port, and sets $tenant, $client, $secret (also in
# $work/secret) and $server; stop_directory stops it.
server=""
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
stop_directory() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=""; fi
}
fresh_directory() {
  stop_directory
  export OATHVAULT_DATA_DIR="$work/data"
  rm -rf "$OATHVAULT_DATA_DIR"
  "$ov" directory seed-demo --json > "$work/demo.json" 2> "$work/seed.log"
  read -r tenant client secret < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["tenant_id"], d["client_id"], d["client_secret"])' "$work/demo.json")
  printf '%s' "$secret" > "$work/secret"
  "$ov" directory serve --listen "127.0.0.1:$port" --latency "${1:-0}" > "$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
}
