#!/bin/sh
# Checks an installed jobdb the way a C user meets it: through pkg-config.
# Usage: check.sh PREFIX (where `make install PREFIX=...` put it).
set -eu

prefix=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
fail() { echo "install check: $*" >&2; exit 1; }

version=$(pkg-config --modversion jobdb) || fail "pkg-config cannot find jobdb.pc"
expected=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
[ "$version" = "$expected" ] || fail "jobdb.pc says $version, Cargo.toml $expected"

soname=$(readelf -d "$prefix/lib/libjobdb.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libjobdb.so.${expected%%.*}" ] || fail "soname is '$soname'"
[ -e "$prefix/lib/$soname" ] || fail "no $soname link in $prefix/lib"

# The header as C99 and as C++.
printf '#include <jobdb.h>\nint main(void) { return jobdb_version()[0] == 0; }\n' \
    > "$work/version.c"
cc -std=c99 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags jobdb) \
    -fsyntax-only "$work/version.c"
c++ -x c++ -Wall -Wextra -Werror $(pkg-config --cflags jobdb) \
    -fsyntax-only "$work/version.c"

# The example, linked as the README shows, then statically.
cc -std=c99 examples/track_jobs.c $(pkg-config --cflags --libs jobdb) \
    -o "$work/shared"
LD_LIBRARY_PATH="$prefix/lib" "$work/shared" "$work/demo-shared" > "$work/out"
grep -q '"status":"failed"' "$work/out" || fail "shared example output: $(cat "$work/out")"
# The failing job's record keeps its exit code, command and end time.
grep -q '"status":"failed","last_update":"[^"]*","last_pid":[0-9]*,.*"exit_code":3,"command":"echo' \
    "$work/out" || fail "shared example stored no exit code: $(cat "$work/out")"
grep -q '"ended_at":"20' "$work/out" || fail "shared example stored no end time"

cc -std=c99 examples/track_jobs.c $(pkg-config --cflags jobdb) \
    "$prefix/lib/libjobdb.a" $(pkg-config --libs-only-l --static jobdb | \
    sed 's/-ljobdb//') -o "$work/static"
if ldd "$work/static" | grep -q libjobdb; then
    fail "the static example still loads libjobdb.so"
fi
"$work/static" "$work/demo-static" > "$work/out"
grep -q '"status":"failed"' "$work/out" || fail "static example output: $(cat "$work/out")"

echo "install check: jobdb $version from $prefix: pkg-config, soname $soname, C99, C++, shared and static links all work"
