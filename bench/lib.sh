# Sourced by the bench scripts: sets $ov, the oathvault binary to measure.
#   BENCH_BIN=PATH      that binary as it is (scripts/test's smoke run passes
#                       the one its test build made: the smoke checks that the
#                       scripts work; its figures are not the benchmark);
#   BENCH_PROFILE=dev   a debug build;
#   otherwise           a release build (the benchmark).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/oathvault/target}"
if [ -n "${BENCH_BIN:-}" ]; then
  ov="$BENCH_BIN"
  [ -x "$ov" ] || { echo "BENCH_BIN=$ov is not an executable" >&2; exit 1; }
elif [ "${BENCH_PROFILE:-release}" = dev ]; then
  cargo build --quiet -p oathvault
  ov="$CARGO_TARGET_DIR/debug/oathvault"
else
  cargo build --release --quiet -p oathvault
  ov="$CARGO_TARGET_DIR/release/oathvault"
fi
