#!/usr/bin/env bash
# check.sh — `make check`: the rules that must not rot (DESIGN.md sections 2 and 13).
#  1. channels/ and workers/ include only gateway/ headers, never each other;
#     gateway/lib/ includes no other project header but gateway/lib/.
#  2. banned functions: sprintf strcpy strcat strtok atoi gets.
#  3. SQL text is never built with printf-family calls from request data: the only
#     allowed snprintf of SQL is the database name in migrate.c.
#  4. cppcheck (warnings, portability, performance) with errors failing the check.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
say() { echo "check: $*"; fail=1; }

cross=$(grep -rnE '#include\s+"(\.\./)?(channels|workers)/' channels workers gateway 2>/dev/null | grep -v '^gateway/main.c' || true)
[ -n "$cross" ] && say "forbidden include (channels/workers are leaves; only gateway/main.c lists them):"$'\n'"$cross"
libinc=$(grep -rnE '#include\s+"' gateway/lib | grep -vE '#include\s+"gateway/lib/' || true)
[ -n "$libinc" ] && say "gateway/lib includes a non-lib project header:"$'\n'"$libinc"

banned=$(grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)\s*\(' --include='*.c' --include='*.h' gateway channels workers tests/unit 2>/dev/null || true)
[ -n "$banned" ] && say "banned functions (DESIGN.md section 13):"$'\n'"$banned"

sqlfmt=$(grep -rnE 'snprintf\([^;]*"(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER)' gateway channels workers 2>/dev/null | grep -v 'gateway/migrate.c' || true)
[ -n "$sqlfmt" ] && say "SQL built with snprintf (use prepared statements):"$'\n'"$sqlfmt"

if command -v cppcheck >/dev/null; then
  if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --inline-suppr \
       --suppress=missingIncludeSystem -I . -D__GNUC__ --std=c11 gateway channels workers 2>&1; then
    say "cppcheck found problems (above)"
  fi
else
  say "cppcheck is not installed (scripts/deps.sh installs it)"
fi
[ $fail = 0 ] && echo "check: ok"
exit $fail
