#!/usr/bin/env bash
# run-all.sh — runs every test suite and prints, as its last line, "N passed, N failed".
#
# Owns only the counting: it does not build and does not start services (`make test` does
# both first). Suites:
#   unit    every executable tests/unit/build/test_* (cmocka), TAP output
#           (CMOCKA_MESSAGE_OUTPUT=TAP); a binary that exits non-zero without reporting a
#           failure, or reports fewer results than it planned, counts as a failure.
#   system  node --test over tests/system/ (TAP reporter); the final "# pass / # fail /
#           # cancelled" summary is counted, cancelled as failed; no summary = 1 failure.
# Each suite's output is shown as it runs. Exit status is 1 when anything failed.
#
# Usage: tests/run-all.sh [FILE...]
#   With arguments, runs only those: tests/unit/build/test_* binaries and/or node test files.
# Environment: var/dev-services.env is sourced and exported; UNIT_TIMEOUT (s, default 300)
# bounds each unit binary; TEST_TIMEOUT_MS (default 120000) bounds each node test.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

if [ -f var/dev-services.env ]; then
  set -a
  # shellcheck disable=SC1091
  . var/dev-services.env
  set +a
else
  echo "run-all: var/dev-services.env missing; tests needing MariaDB will fail (run scripts/dev-services start)" >&2
fi

PASS=0
FAIL=0
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

unit=()
node_files=()
if [ $# -gt 0 ]; then
  for a in "$@"; do
    case "$a" in
      *.js|*.mjs|*.cjs) node_files+=("$a") ;;
      *) unit+=("$a") ;;
    esac
  done
else
  for f in "${UNIT_DIR:-tests/unit/build}"/test_*; do
    [ -f "$f" ] && [ -x "$f" ] && unit+=("$f")
  done
  node_files=(tests/system/)
fi

# run_unit BIN — adds the binary's TAP results to PASS/FAIL.
run_unit() {
  local bin=$1 out="$TMP/unit.out" rc p f planned
  echo "### unit: $bin"
  # The subshell keeps bash's own "Segmentation fault" report in the suite's output.
  (CMOCKA_MESSAGE_OUTPUT=TAP timeout "${UNIT_TIMEOUT:-300}" "$bin"; exit $?) 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(grep -cE '^ok [0-9]+' "$out")
  # cmocka marks skipped tests "not ok N # SKIP": neither passed nor failed.
  f=$(grep -E '^not ok [0-9]+' "$out" | grep -vc '# SKIP')
  planned=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
  local reported=$(( $(grep -cE '^(not )?ok [0-9]+' "$out") ))
  if [ "$reported" -lt "$planned" ]; then
    echo "### unit: $bin reported $reported of $planned planned results (rc $rc): counting the rest as failed"
    f=$((f + planned - reported))
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "### unit: $bin exited with status $rc without reporting a failure: counting 1 failure"
    f=1
  fi
  echo "### unit: $bin: $p passed, $f failed"
  PASS=$((PASS + p))
  FAIL=$((FAIL + f))
}

# Databases and logs left by the previous run (kept until now for post-mortems).
clean_previous_run() {
  [ -n "${SWITCHBOARD_DATABASE_SOCKET:-}" ] && [ -S "$SWITCHBOARD_DATABASE_SOCKET" ] || return 0
  local my=(mariadb --no-defaults --socket="$SWITCHBOARD_DATABASE_SOCKET"
            -u "${SWITCHBOARD_DATABASE_USER:-switchboard}" -p"${SWITCHBOARD_DATABASE_PASSWORD:-switchboard}" -N -B)
  local db
  for db in $("${my[@]}" -e "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'sbtest\\_%'" 2>/dev/null); do
    "${my[@]}" -e "DROP DATABASE IF EXISTS \`$db\`" || true
  done
  rm -f var/test-logs/sbtest_*.log
}

run_node() {
  local out="$TMP/node.out" rc p f c
  echo "### system: node --test ${node_files[*]}"
  clean_previous_run
  node --test --test-reporter=tap --test-concurrency=2 \
       --test-timeout="${TEST_TIMEOUT_MS:-120000}" "${node_files[@]}" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  if ! grep -qE '^# pass [0-9]+' "$out"; then
    echo "### system: no summary from node (rc $rc): counting 1 failure"
    FAIL=$((FAIL + 1))
    return
  fi
  p=$(sed -nE 's/^# pass ([0-9]+)$/\1/p' "$out" | tail -n 1)
  f=$(sed -nE 's/^# fail ([0-9]+)$/\1/p' "$out" | tail -n 1)
  c=$(sed -nE 's/^# cancelled ([0-9]+)$/\1/p' "$out" | tail -n 1)
  f=$(( ${f:-0} + ${c:-0} ))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "### system: node exited with status $rc without reporting a failure: counting 1 failure"
    f=1
  fi
  echo "### system: $p passed, $f failed"
  PASS=$((PASS + p))
  FAIL=$((FAIL + f))
}

for bin in "${unit[@]}"; do run_unit "$bin"; done
[ ${#node_files[@]} -gt 0 ] && run_node

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
