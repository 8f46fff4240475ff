#!/usr/bin/env bash
# Checks libtensortier.so's ABI: it exports exactly the TT_API functions that
# tensortier.h declares, nothing else, each versioned TENSORTIER_0.1; its
# SONAME is libtensortier.so.0; and a C program linked against it needs no
# C++ runtime of its own.
#   c_api_exports.sh <libtensortier.so> <tensortier.h> <C test program>
set -euo pipefail
LIB="$1" HEADER="$2" PROGRAM="$3"
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# Defined dynamic symbols, without the version node's own ABS symbol.
defined=$(nm -D --defined-only "$LIB" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort)
[ -n "$defined" ] || fail "no defined dynamic symbols in $LIB"
others=$(grep -v '^tt_' <<<"$defined" || true)
[ -z "$others" ] || fail "symbols other than tt_* are exported:"$'\n'"$others"

declared=$(grep -Eo '^TT_API [^(]*\(' "$HEADER" | sed -E 's/.*[ *](tt_[a-z0-9_]+)\($/\1/' | sort)
[ "$declared" = "$defined" ] ||
  fail "exports differ from the TT_API declarations of $HEADER:"$'\n'"$(diff <(echo "$declared") <(echo "$defined") || true)"

# objdump -T: "ADDR flags section size VERSION name"; every defined one is TENSORTIER_0.1.
unversioned=$(objdump -T "$LIB" | awk '/ tt_/ && $(NF-1) != "TENSORTIER_0.1" {print}')
[ -z "$unversioned" ] || fail "tt_* symbols without version TENSORTIER_0.1:"$'\n'"$unversioned"
versioned=$(objdump -T "$LIB" | awk '/ tt_/ && $(NF-1) == "TENSORTIER_0.1"' | wc -l)
[ "$versioned" -eq "$(wc -l <<<"$defined")" ] || fail "$versioned versioned tt_* symbols, want $(wc -l <<<"$defined")"

soname=$(objdump -p "$LIB" | awk '$1 == "SONAME" {print $2}')
[ "$soname" = "libtensortier.so.0" ] || fail "SONAME is '$soname', want libtensortier.so.0"

# The C program binds tt_* at version TENSORTIER_0.1 and needs only the C library.
needed=$(objdump -p "$PROGRAM" | awk '$1 == "NEEDED" {print $2}' | sort | tr '\n' ' ')
grep -q 'libtensortier.so.0' <<<"$needed" || fail "$PROGRAM does not need libtensortier.so.0 ($needed)"
grep -q 'libstdc++' <<<"$needed" && fail "$PROGRAM needs libstdc++ itself ($needed)"
grep -Eq '\(?TENSORTIER_0\.1\)? +tt_allocate$' <<<"$(objdump -T "$PROGRAM")" ||
  fail "$PROGRAM does not bind tt_allocate@TENSORTIER_0.1"

count=$(wc -l <<<"$defined")
[ "$failed" -eq 0 ] && echo "ok: $count tt_* symbols, all TENSORTIER_0.1, nothing else exported"
exit "$failed"
