#!/usr/bin/env bash
# run.sh — `make bench`: the performance targets of the issues, measured on this machine
# against the real services (scripts/dev-services), each bench a fresh server and database.
#   routing       assignments/s, 500 online agents              target ≥ 2000/s  (issue 7)
#   email_ingest  messages/s from one IMAP mailbox into tickets  target ≥ 500/s   (issue 5)
#   sms_send      the gateway's send rate / a bare libcurl multi
#                 loop against the same provider fake            target ≥ 0.5x    (issue 6)
#   segment_materialise  1,000,000 customers into a campaign ledger / a bare
#                 INSERT … SELECT of the same ids (also: < 30 s)  target ≥ 0.5x    (issue 9)
#   campaign_send an e-mail campaign's send rate / postfix smtp-source -d
#                 into the same smtp-sink (one session each)       target ≥ 0.5x    (issue 9)
#   kb_search     search request p99 over 10,000 articles           target ≤ 5 ms    (issue 10)
#   reports       rows each report dataset reads for the last 30 days after adding 10x
#                 as much history / before (the worst dataset whose
#                 answer is unchanged; times printed too)          target ≤ 1.5x    (issue 11)
#   objects       median ms of a filtered list of 100,000 custom-object records
#                 (the slowest of: a selective date filter, a broad
#                 select filter, a substring search)               target ≤ 100 ms  (issue 12)
# Absolute figures depend on the machine (these targets were set for a small one: 2 cores);
# the SMS and reports figures are ratios within the same run, as timings here are noisy.
# Each bench runs BENCH_RUNS times (3); the median run is judged. Prints every run's JSON
# line and a verdict per bench; exits 1 when a target is missed.
# Environment: BENCH_ONLY="routing sms_send" runs a subset; BENCH_RUNS; BENCH_AGENTS,
# BENCH_TICKETS, BENCH_MESSAGES, BENCH_SMS, BENCH_CUSTOMERS, BENCH_CAMPAIGN, BENCH_KB_ARTICLES,
# BENCH_KB_QUERIES, BENCH_REPORT_* (see bench/reports.js), BENCH_OBJ_* (bench/objects.js) size them.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-services start >/dev/null || exit 1
benches=${BENCH_ONLY:-"routing email_ingest sms_send segment_materialise campaign_send kb_search reports objects"}
runs=${BENCH_RUNS:-3}
fail=0
for b in $benches; do
  case $b in
    routing) js=bench/route.js ;;
    email_ingest) js=bench/ingest_imap.js ;;
    sms_send) js=bench/sms_send.js ;;
    segment_materialise) js=bench/materialise.js ;;
    campaign_send) js=bench/campaign_send.js ;;
    kb_search) js=bench/kb_search.js ;;
    reports) js=bench/reports.js ;;
    objects) js=bench/objects.js ;;
    *) echo "bench: unknown bench $b" >&2; fail=1; continue ;;
  esac
  lines=()
  for ((i = 0; i < runs; i++)); do
    l=$(node "$js") || { echo "bench: $b failed to run" >&2; fail=1; continue 2; }
    echo "$l"
    lines+=("$l")
  done
  # the median run: timings here are noisy (2 cores shared with MariaDB and the fakes)
  line=$(node -e 'const rs = process.argv.slice(1).map((l) => JSON.parse(l)); const v = (r) => r.ratio !== undefined ? r.ratio : r.p99_ms !== undefined ? r.p99_ms : r.median_ms !== undefined ? r.median_ms : r.per_sec;
    rs.sort((a, b) => v(a) - v(b)); console.log(JSON.stringify(rs[Math.floor(rs.length / 2)]))' "${lines[@]}")
  verdict=$(node -e 'const r = JSON.parse(process.argv[1]); const v = r.ratio !== undefined ? r.ratio : r.p99_ms !== undefined ? r.p99_ms : r.median_ms !== undefined ? r.median_ms : r.per_sec;
    const ok = r.lower_is_better ? v <= r.target : v >= r.target;
    console.log(ok ? `ok      ${r.bench}: ${v} (target ${r.lower_is_better ? "≤" : "≥"} ${r.target})` : `MISSED  ${r.bench}: ${v} (target ${r.lower_is_better ? "≤" : "≥"} ${r.target})`)' "$line")
  echo "$verdict"
  case $verdict in MISSED*) fail=1 ;; esac
done
exit $fail
