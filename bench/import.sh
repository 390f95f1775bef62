#!/usr/bin/env bash
# Importing a factory PSKC file (pre-shared key) of N tokens into a shipment
# on the embedded SQLite store: `oathvault portal import`, timed end to end
# (read, decrypt, seal every secret, one transaction). Then a file whose last
# row is bad is imported and the inventory must be unchanged.
#
# Usage: bench/import.sh [N]   (default 100000; RUNS=k, default 3, median)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
runs="${RUNS:-3}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-import.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export OATHVAULT_DATA_DIR="$work/data"
key=12345678901234567890123456789012
printf '%s\n' "$key" > "$work/psk.hex"
python3 bench/gen_tokens.py "$n" "$work/tokens.csv"
"$ov" convert -q "$work/tokens.csv" --to pskc --pskc-psk-file "$work/psk.hex" -o "$work/factory.xml"
printf 'input: %s tokens, PSKC with a pre-shared key, %s bytes\n' "$n" "$(stat -c %s "$work/factory.xml")"

times=(); peak=0
for i in $(seq "$runs"); do
  rm -rf "$OATHVAULT_DATA_DIR"
  "$ov" portal init > /dev/null
  "$ov" portal customer add "Bench Ltd" --email it@bench.example > /dev/null
  "$ov" portal order add --customer "Bench Ltd" --po PO-1 > /dev/null
  "$ov" portal shipment add --order PO-1 --number SHP-1 > /dev/null
  read -r t kib < <(python3 bench/measure.py "$ov" portal import --order PO-1 --shipment SHP-1 "$work/factory.xml" --psk-file "$work/psk.hex")
  times+=("$t"); [ "$kib" -gt "$peak" ] && peak=$kib
done
count() { "$ov" portal shipment list | awk -F'\t' '{print $4}'; }
[ "$(count)" = "$n token(s)" ] || { echo "expected $n tokens, got $(count)" >&2; exit 1; }

# One bad row at the end of a second shipment's file: nothing is imported.
"$ov" portal shipment add --order PO-1 --number SHP-2 > /dev/null
python3 bench/gen_tokens.py "$n" "$work/more.csv" --seed other
sed -i '$ s/,[A-Z2-7]*,/,NOT!BASE32,/' "$work/more.csv"
sed -i '2,$ s/^\([^,]*\),0/\1,9/' "$work/more.csv"
if "$ov" portal import --order PO-1 --shipment SHP-2 "$work/more.csv" > "$work/bad.out" 2>&1; then
  echo "the import with a bad last row succeeded" >&2; exit 1
fi
grep -q "nothing was imported" "$work/bad.out"
"$ov" portal shipment list | grep -q "^SHP-2	.*	0 token(s)" || { echo "the failed import left tokens behind" >&2; exit 1; }
"$ov" portal audit verify > /dev/null

python3 - "$n" "$peak" "${times[*]}" <<'PY'
import statistics, sys
n, kib = int(sys.argv[1]), int(sys.argv[2])
t = [float(x) for x in sys.argv[3].split()]
m = statistics.median(t)
print(f"portal import     : {m:7.3f} s median of {len(t)} ({', '.join(f'{x:.3f}' for x in t)}), peak {kib/1024:.1f} MiB, {n/m:,.0f} tokens/s")
print("target            : < 5 s on SQLite; a failed import (bad last row) left the inventory unchanged: yes")
PY
