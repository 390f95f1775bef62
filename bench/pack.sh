#!/usr/bin/env bash
# Packaging a seed file as password + PGP (AES-256 ZIP inside OpenPGP):
# `oathvault pack` against the usual manual route, `7z a -tzip -mem=AES256`
# followed by `gpg --encrypt`, on the same file in the same run. Both outputs
# are opened again and compared with the input.
#
# Usage: bench/pack.sh [N]   (default 1000000 tokens; RUNS=k, default 3, medians)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${RUNS:-3}"
. bench/lib.sh
work="$(mktemp -d "${TMPDIR:-/tmp}/oathvault-pack.XXXXXX")"
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

python3 bench/gen_tokens.py "$n" "$work/tokens.csv"
printf 'input: %s tokens, %s bytes\n' "$n" "$(stat -c %s "$work/tokens.csv")"
pw="bench zip password 2026"
printf '%s\n' "$pw" > "$work/pw.txt"
gpg --batch --quiet --passphrase '' --quick-gen-key 'Bench Customer <bench@example.com>' future-default default never 2>/dev/null
gpg --batch --quiet --armor --export bench@example.com > "$work/customer.asc"
cat "$work/tokens.csv" > /dev/null

# The peer: 7-Zip AES-256 ZIP, then gpg encrypts it (binary, like ours).
peer() {
  rm -f "$work/peer.zip" "$work/peer.zip.gpg"
  7z a -tzip -mem=AES256 "-p$pw" "$work/peer.zip" "$work/tokens.csv" > /dev/null
  gpg --batch --quiet --trust-model always -r bench@example.com -o "$work/peer.zip.gpg" --encrypt "$work/peer.zip"
}
export -f peer; export work pw

ov_t=(); py_t=(); ov_peak=0; peer_peak=0
for _ in $(seq "$runs"); do
  rm -f "$work/ours.zip.pgp"
  read -r t kib < <(python3 bench/measure.py "$ov" pack "$work/tokens.csv" -o "$work/ours.zip.pgp" --password-file "$work/pw.txt" --recipient "$work/customer.asc")
  ov_t+=("$t"); [ "$kib" -gt "$ov_peak" ] && ov_peak=$kib
  read -r t kib < <(python3 bench/measure.py bash -c peer)
  py_t+=("$t"); [ "$kib" -gt "$peer_peak" ] && peer_peak=$kib
done

# Both open again to the same bytes.
gpg --batch --quiet --pinentry-mode loopback --passphrase '' --armor --export-secret-keys bench@example.com > "$work/customer.sec"
"$ov" open "$work/ours.zip.pgp" --key "$work/customer.sec" --password-file "$work/pw.txt" -o "$work/opened" > /dev/null
cmp "$work/opened/tokens.csv" "$work/tokens.csv"
gpg --batch --quiet -o "$work/peer-opened.zip" --decrypt "$work/peer.zip.gpg"
7z x -y "-p$pw" "-o$work/peer-opened" "$work/peer-opened.zip" > /dev/null
cmp "$work/peer-opened/tokens.csv" "$work/tokens.csv"

python3 - "$ov_peak" "$peer_peak" "${ov_t[*]}" "${py_t[*]}" "$(stat -c %s "$work/ours.zip.pgp")" "$(stat -c %s "$work/peer.zip.gpg")" <<'PY'
import statistics, sys
ov_kib, peer_kib = int(sys.argv[1]), int(sys.argv[2])
ov = [float(x) for x in sys.argv[3].split()]
pe = [float(x) for x in sys.argv[4].split()]
o, p = statistics.median(ov), statistics.median(pe)
print(f"runs                 : {len(ov)} each, alternating; medians")
print(f"oathvault pack       : {o:7.3f} s  peak {ov_kib/1024:7.1f} MiB  output {int(sys.argv[5]):,} B  (all: {', '.join(f'{t:.3f}' for t in ov)})")
print(f"7z AES-256 + gpg     : {p:7.3f} s  peak {peer_kib/1024:7.1f} MiB  output {int(sys.argv[6]):,} B  (all: {', '.join(f'{t:.3f}' for t in pe)})")
print(f"ratio                : {p / max(o, 1e-9):7.2f}x (target >= 1: no slower)")
PY
