#!/usr/bin/env bash
# fuzz.sh — builds and runs the fuzz harnesses tests/fuzz/fuzz_*.c (`make fuzz`).
# Installs nothing.
#
# libFuzzer (when clang can link -fsanitize=fuzzer): each harness is built with
# -fsanitize=fuzzer,address,undefined together with the gateway sources it needs, compiled
# here with the same instrumentation into build/fuzz/ (never the uninstrumented
# build/libswitchboard.a), and run for FUZZ_SECONDS starting from the seed corpus
# tests/fuzz/corpus/<name>/ (seeds named regress-* are inputs that once found a bug).
# New inputs libFuzzer finds go to build/fuzz/corpus/<name>/ (the committed seeds stay
# as they are); a crashing input is saved in build/fuzz/artifacts/<name>/.
#
# Standalone (no clang, or FUZZ_ENGINE=standalone): the same harnesses linked with
# tests/fuzz/driver.c and built by gcc -fsanitize=address,undefined; each is fed its
# corpus and FUZZ_RUNS mutated/random inputs (the seed is printed for a re-run).
#
# Environment:
#   FUZZ_SECONDS   seconds per harness under libFuzzer (default 30)
#   FUZZ_RUNS      generated inputs per harness for the standalone driver (default 20000)
#   FUZZ_ENGINE    libfuzzer | standalone (default: libfuzzer when available)
#   FUZZ_TARGETS   space-separated subset, e.g. "contact route" (default: every harness)
#   FUZZ_JOBS      parallel compiles (default: number of CPUs)
# Exit status 0 when every harness ran clean, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_RUNS=${FUZZ_RUNS:-20000}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
PKGS="libwebsockets libmariadb libcurl libetpan libesmtp-1.0 jansson libsodium libssl libcrypto inih gumbo"
OUT=build/fuzz

# Gateway sources each harness needs. route uses the real api_routes table, whose
# handlers reach most of the gateway, so it takes every gateway source.
LIB_SRC=$(ls gateway/lib/*.c)
ALL_SRC="$LIB_SRC $(ls gateway/*.c | grep -v '^gateway/main\.c$') $(ls channels/*.c workers/*.c 2>/dev/null)"
sources_for() {
  case $1 in
    contact)    echo gateway/lib/contact.c gateway/lib/text.c ;;
    json_field) echo gateway/lib/json_field.c gateway/lib/text.c ;;
    csv)        echo gateway/lib/csv.c gateway/lib/charset.c gateway/lib/buf.c gateway/lib/text.c ;;
    config)     echo gateway/config.c gateway/lib/text.c ;;
    segment)    echo gateway/segment.c gateway/lib/buf.c gateway/lib/text.c ;;
    template)   echo gateway/template.c gateway/lib/buf.c gateway/lib/text.c ;;
    mime)       echo channels/email_mime.c gateway/lib/buf.c gateway/lib/text.c ;;
    kbtext)     echo gateway/lib/markdown.c gateway/lib/search_text.c gateway/lib/buf.c gateway/lib/text.c ;;
    sms)        echo gateway/lib/form.c gateway/lib/sms_text.c gateway/lib/contact.c gateway/lib/buf.c \
                     gateway/lib/text.c channels/sms_twilio.c ;;
    route)      echo "$ALL_SRC" "$OUT/gen/migrations.c" ;;
    *)          echo "$ALL_SRC" "$OUT/gen/migrations.c" ;; # a new harness: link everything
  esac
}

if [ -n "${FUZZ_TARGETS:-}" ]; then
  targets=$FUZZ_TARGETS
else
  targets=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||' | tr '\n' ' ')
fi

# ---- choose the engine ----
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
engine=${FUZZ_ENGINE:-}
if [ -z "$engine" ]; then
  engine=standalone
  if command -v clang >/dev/null; then
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
    if clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" 2>/dev/null; then
      engine=libfuzzer
    else
      echo "fuzz: clang cannot link -fsanitize=fuzzer; using the standalone driver"
    fi
  else
    echo "fuzz: clang not installed (Debian package: clang); using the standalone driver with gcc"
  fi
fi
case $engine in
  libfuzzer)
    CC=clang
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    OBJ_SAN="$SAN -fsanitize=fuzzer-no-link"
    LINK_SAN="$SAN -fsanitize=fuzzer"
    EXTRA_WARN="-Wno-unknown-warning-option"
    ;;
  standalone)
    CC=${FUZZ_CC:-gcc}
    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
    OBJ_SAN=$SAN
    LINK_SAN=$SAN
    EXTRA_WARN=""
    ;;
  *) echo "fuzz: FUZZ_ENGINE must be libfuzzer or standalone" >&2; exit 1 ;;
esac
if ! command -v "$CC" >/dev/null; then
  echo "fuzz: $CC not found" >&2
  exit 1
fi
echo "fuzz: engine=$engine cc=$CC targets: $targets"

WARN="-Wall -Wextra -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wstrict-prototypes -Wmissing-prototypes $EXTRA_WARN"
# shellcheck disable=SC2086
PKG_CFLAGS=$(pkg-config --cflags $PKGS) || { echo "fuzz: pkg-config failed (run make deps)" >&2; exit 1; }
# shellcheck disable=SC2086
PKG_LIBS=$(pkg-config --libs $PKGS | tr ' ' '\n' | grep -v '^-specs=' | tr '\n' ' ')
CFLAGS="-std=gnu11 -g -O1 -fno-omit-frame-pointer -I. -D_GNU_SOURCE -pthread $PKG_CFLAGS"
ODIR=$OUT/$engine/obj
BDIR=$OUT/$engine/bin
mkdir -p "$ODIR" "$BDIR" "$OUT/gen"

# Migrations as C (migrate.c needs them when everything is linked).
sh scripts/embed-sql.sh "$OUT/gen/migrations.c" $(ls sql/migrations/*.sql | sort) || exit 1

# ---- compile each needed source once (up to date check by mtime) ----
needed=""
for t in $targets; do needed="$needed $(sources_for "$t")"; done
needed=$(echo "$needed" | tr ' ' '\n' | sed '/^$/d' | sort -u)
obj_of() { echo "$ODIR/$(echo "${1%.c}" | tr '/' '_').o"; }
export CC CFLAGS WARN OBJ_SAN ODIR
compile_one() {
  src=$1
  obj="$ODIR/$(echo "${src%.c}" | tr '/' '_').o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find gateway -name '*.h' -newer "$obj" 2>/dev/null | head -n 1)" ]; then
    # shellcheck disable=SC2086
    $CC $CFLAGS $WARN $OBJ_SAN -c -o "$obj" "$src" || { echo "fuzz: compiling $src failed" >&2; return 1; }
  fi
}
export -f compile_one
if ! echo "$needed" | xargs -P "$FUZZ_JOBS" -I{} bash -c 'compile_one "$@"' _ {}; then
  echo "fuzz: build failed"
  exit 1
fi

# ---- build and run each harness ----
failed=()
for t in $targets; do
  h=tests/fuzz/fuzz_$t.c
  if [ ! -f "$h" ]; then
    echo "fuzz: no harness $h"
    failed+=("$t")
    continue
  fi
  objs=""
  for s in $(sources_for "$t"); do objs="$objs $(obj_of "$s")"; done
  bin=$BDIR/fuzz_$t
  extra=""
  [ "$engine" = standalone ] && extra=tests/fuzz/driver.c
  # shellcheck disable=SC2086
  if ! $CC $CFLAGS $WARN -Werror $LINK_SAN -o "$bin" "$h" $extra $objs $PKG_LIBS -lev -lm; then
    echo "fuzz: building $t failed"
    failed+=("$t")
    continue
  fi
  seeds=tests/fuzz/corpus/$t
  mkdir -p "$seeds"
  echo "### fuzz: $t ($engine)"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  if [ "$engine" = libfuzzer ]; then
    work=$OUT/corpus/$t
    art=$OUT/artifacts/$t
    mkdir -p "$work" "$art"
    "$bin" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art/" "$work" "$seeds" 2>&1 | grep -vE '^#[0-9]+\s+(NEW|REDUCE|pulse)'
    rc=${PIPESTATUS[0]}
  else
    art=$OUT/artifacts/$t
    mkdir -p "$art"
    (cd "$art" && "$OLDPWD/$bin" -runs="$FUZZ_RUNS" "$OLDPWD/$seeds")
    rc=$?
  fi
  if [ "$rc" -ne 0 ]; then
    echo "### fuzz: $t FAILED (exit $rc); inputs in $art/"
    failed+=("$t")
  else
    echo "### fuzz: $t ok"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all harnesses clean"
