#!/usr/bin/env bash
# Seed requests under load: N customers walk the portal's journey at once
# (find → shipments → protection → format → submit), a reviewer approves
# all N, and the outbox sends every mail to an SMTP sink; then the database
# must hold exactly N delivered requests, each with its sealed file, and the
# sink exactly one "received", one "new request" and one link mail per
# request. Run twice: on SQLite with one `portal serve`, then on PostgreSQL
# with TWO `portal serve` processes sharing the database (customers spread
# over both, the reviewer's approvals too).
#
# The inventory (made with the CLI, not timed): one customer per simulated
# company, `Company i` with the contact it@company-i.example, order PO-i
# (invoice INV-i) with one shipment SH-i of 3 TOTP tokens (serials 3i … 3i+2,
# from bench/gen_tokens.py, imported with `portal import`). The client is
# bench/portal_load.py (Python stdlib; one thread and connection per
# customer, each from its own 127.77.x.y address); the sink is
# bench/smtp_sink.py. The portal runs with requests.find_floor_ms = 5 (the
# default 250 ms floor on order lookups would only add a constant to the
# find step) and its other defaults (rate limits included: every customer
# has its own source address). PostgreSQL is a throwaway cluster with its
# default settings (fsync and synchronous_commit on; SQLite runs in WAL
# with synchronous = NORMAL), started like crates/testkit does.
#
# Usage: bench/portal_requests.sh [N]   (default 200)
#   BACKENDS="sqlite postgres" (default both)   APPROVERS=k (default 4)
#   PG_SERVERS=k portal processes on PostgreSQL (default 2)
#   PG_OPTS="-c name=value ..." PostgreSQL settings (default: none changed)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-200}"
backends="${BACKENDS:-sqlite postgres}"
approvers="${APPROVERS:-4}"
pg_servers="${PG_SERVERS:-2}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-requests.XXXXXX")"
pgdir=""
pgbin=""
pids=()

as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  if [ -n "$pgdir" ]; then as_postgres "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop > /dev/null 2>&1 || true; rm -rf "$pgdir"; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT: up to 20 s
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on port $1" >&2; return 1
}

# 3N tokens, three per shipment file.
python3 bench/gen_tokens.py $((3 * n)) "$work/tokens.csv"
python3 - "$work/tokens.csv" "$work/tokens" <<'PY'
import os, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines(keepends=True)
os.makedirs(sys.argv[2])
for i in range(0, len(lines) - 1, 3):
    with open(f"{sys.argv[2]}/SH-{i // 3}.csv", "w", encoding="utf-8", newline="") as f:
        f.writelines([lines[0]] + lines[1 + i:4 + i])
PY
printf 'Reviewer-pass-2026!\n' > "$work/reviewer.pass"

company() { # I: customer, order, shipment and its tokens
  local i=$1 c="timeout 60 $ov portal"
  $c customer add "Company $i" --email "it@company-$i.example" > /dev/null
  $c order add --customer "Company $i" --po "PO-$i" --invoice "INV-$i" > /dev/null
  $c shipment add --order "PO-$i" --number "SH-$i" --date 2026-10-01 > /dev/null
  $c import --order "PO-$i" --shipment "SH-$i" "$work/tokens/SH-$i.csv" > /dev/null
}
export -f company
export ov work

# LABEL DATABASE: a fresh data directory (master key) and database with the
# inventory and a reviewer; sets $uri_file.
setup() {
  export OATHVAULT_DATA_DIR="$work/data-$1" OATHVAULT_DATABASE="$2"
  "$ov" portal init > /dev/null
  seq 0 $((n - 1)) | xargs -P "${SETUP_JOBS:-2}" -I{} bash -c 'set -e; company {}'
  "$ov" portal staff add --email rex@vendor.example --name Rex --role reviewer \
    --password-file "$work/reviewer.pass" | grep '^otpauth://' > "$work/uri-$1"
}

start_pg() {
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  [ -x "$pgbin/initdb" ] || { echo "PostgreSQL is not installed (scripts/test installs it)" >&2; exit 1; }
  pgdir="$(mktemp -d /tmp/oathvault-pg.XXXXXX)"
  mkdir "$pgdir/data"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$pgdir"
  as_postgres "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --no-sync > /dev/null
  pgport="$(free_port)"
  as_postgres "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -t 30 \
    -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 ${PG_OPTS:-}" start > /dev/null
  pgurl="postgres://postgres@127.0.0.1:$pgport/postgres"
}

# LABEL DATABASE SERVERS: one run; leaves $work/result-LABEL.json.
run() {
  local label=$1 db=$2 servers=$3 urls="" port server_pids=()
  setup "$label" "$db"
  : > "$work/mail-$label.log"
  rm -f "$work/smtp.port"
  python3 bench/smtp_sink.py "$work/mail-$label.log" "$work/smtp.port" & pids+=($!)
  for _ in $(seq 100); do [ -s "$work/smtp.port" ] && break; sleep 0.1; done
  for k in $(seq "$servers"); do
    port="$(free_port)"
    OATHVAULT_SMTP__PORT="$(cat "$work/smtp.port")" OATHVAULT_REQUESTS__FIND_FLOOR_MS=5 \
      "$ov" portal serve --listen "127.0.0.1:$port" --base-url "http://127.0.0.1:$port" \
      > "$work/serve-$label-$k.log" 2>&1 & pids+=($!); server_pids+=($!)
    wait_port "$port"
    urls="${urls:+$urls,}http://127.0.0.1:$port"
  done
  if ! timeout $((300 + n)) python3 bench/portal_load.py --label "$label" --servers "$urls" --n "$n" \
      --mail-log "$work/mail-$label.log" --reviewer rex@vendor.example \
      --password-file "$work/reviewer.pass" --totp-uri-file "$work/uri-$label" \
      --approvers "$approvers" --mail-timeout $((60 + n / 2)) --out "$work/result-$label.json"; then
    echo "--- portal logs (last lines)" >&2; tail -n 20 "$work"/serve-"$label"-*.log >&2; exit 1
  fi
  local ticks=0 k
  for k in "${server_pids[@]}"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$k/stat"))); done
  stop_all
  python3 -c 'import json, os, sys; f = sys.argv[1]; r = json.load(open(f)); r["portal_cpu_s"] = int(sys.argv[2]) / os.sysconf("SC_CLK_TCK"); json.dump(r, open(f, "w"))' \
    "$work/result-$label.json" "$ticks"
  check "$label" "$db"
}

# LABEL DATABASE: exactly N requests, all delivered, each with its sealed file
# and links; the outbox empty; each step audited once per request; the audit
# chain intact.
check() {
  local db=$2
  if [[ "$db" == postgres://* ]]; then q() { psql "$db" -XAtq -c "$1"; }; else q() { sqlite3 "$db" "$1"; }; fi
  local states files outbox audit want_audit
  states="$(q "SELECT state || ':' || COUNT(*) FROM seed_request GROUP BY state ORDER BY state" | tr '\n' ' ')"
  files="$(q "SELECT COUNT(*) FROM seed_request r WHERE NOT EXISTS (SELECT 1 FROM delivery_file f WHERE f.request_id = r.id AND f.state = 'ready' AND f.content_sealed IS NOT NULL AND f.key_wrapped IS NOT NULL AND f.download_hash IS NOT NULL AND f.confirm_hash IS NOT NULL)")"
  outbox="$(q "SELECT COUNT(*) FROM mail_outbox")"
  audit="$(q "SELECT action || ':' || COUNT(*) FROM audit WHERE action IN ('request.submit', 'request.approve', 'request.deliver') GROUP BY action ORDER BY action" | tr '\n' ' ')"
  want_audit="request.approve:$n request.deliver:$n request.submit:$n "
  local bad=""
  [ "$states" = "delivered:$n " ] || bad="$bad; requests by state: $states(expected delivered:$n)"
  [ "$files" = 0 ] || bad="$bad; $files request(s) without a sealed file with links"
  [ "$(q "SELECT COUNT(*) FROM delivery_file")" = "$n" ] || bad="$bad; not exactly $n files"
  [ "$outbox" = 0 ] || bad="$bad; $outbox mail(s) left in the outbox"
  [ "$audit" = "$want_audit" ] || bad="$bad; audit: $audit(expected $want_audit)"
  "$ov" portal audit verify > "$work/audit-$1.txt" || bad="$bad; the audit chain does not verify"
  if [ -n "$bad" ]; then echo "$1: database check failed${bad}" >&2; exit 1; fi
  echo "  database   $n requests delivered, each with its sealed file and links; outbox empty; submit/approve/deliver audited once each; $(cat "$work/audit-$1.txt")"
}

labels=()
for b in $backends; do
  case "$b" in
    sqlite) run sqlite "$work/portal.db" 1; labels+=(sqlite) ;;
    postgres) start_pg; run "postgres-$pg_servers" "$pgurl" "$pg_servers"; labels+=("postgres-$pg_servers") ;;
    *) echo "unknown backend $b" >&2; exit 2 ;;
  esac
done

python3 - "$work" "${labels[@]}" <<'PY'
import json, sys
work, labels = sys.argv[1], sys.argv[2:]
rs = [json.load(open(f"{work}/result-{l}.json")) for l in labels]
ms = lambda v: f"{v * 1000:.0f}"
print()
print("| Backend | N | Servers | Submitted in | Requests/s | Approved in | Mail drained after | Total | Portal CPU |"
      + "".join(f" {s} p50/p95 ms |" for s in ["find", "shipments", "protection", "format", "submit", "approve"]))
print("|---|---|---|---|---|---|---|---|---|" + "---|" * 6)
for r in rs:
    steps = dict(r["steps"], approve=r["approve"])
    print(f"| {r['label']} | {r['n']} | {r['servers']} | {r['customers_s']:.2f} s | {r['requests_per_s']:.1f} "
          f"| {r['review_s']:.2f} s | {r['mail_s']:.2f} s | {r['total_s']:.2f} s "
          f"| {r['portal_cpu_s']:.1f} s ({r['portal_cpu_s'] / r['n'] * 1000:.0f} ms/request) |"
          + "".join(f" {ms(steps[s]['p50'])} / {ms(steps[s]['p95'])} |"
                    for s in ["find", "shipments", "protection", "format", "submit", "approve"]))
mails = ", ".join(f"{r['label']}: {r['mails']['total']}" for r in rs)
print("\nno error and no lost request: every request submitted, approved, delivered once, "
      f"with its file; every mail at the sink exactly once ({mails})")
PY
