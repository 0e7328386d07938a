#!/usr/bin/env bash
# The build compiles lua/kubelua/*.lua to <build>/lib/kubelua/NAME.luac and a
# searcher (host/kl_state.c) loads it ahead of the source, only while it is
# at least as new as the source it was compiled from: errors keep the
# source's file:line, and an edited module takes effect without a rebuild.
set -u
KUBELUA=${KUBELUA:-build/kubelua}
ROOT=${KUBELUA_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
build=$(dirname "$(readlink -f "$KUBELUA")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, condition result (0 = ok), [detail shown on failure]
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok     $1"
  else fail=$((fail + 1)); echo "FAILED $1"; [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/       | /'; fi
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); }
# what the bytecode searcher (package.searchers[2]) makes of a module
FOUND='local name = ... local f, path = package.searchers[2](name) print(type(f), path)'
found() { "$KUBELUA" -e "local function found(...) $FOUND end found('$1')" 2>&1; }
# an error raised inside a bundled module, with its traceback
ERROR_IN_MODULE='require("kubelua.errors").from_status(1)'

# ---- the build's own bytecode
missing="" wrong=""
for src in "$ROOT"/lua/kubelua/*.lua; do
  n=$(basename "$src" .lua)
  bc=$build/lib/kubelua/$n.luac
  if [ ! -f "$bc" ]; then missing="$missing $n"; continue; fi
  mod=kubelua.$n; [ "$n" = init ] && mod=kubelua
  if [ "$src" -nt "$bc" ]; then want="nil	nil"; else want="function	$src"; fi # edited since the build
  got=$(found "$mod")
  [ "$got" = "$want" ] || wrong="$wrong $n($got)"
done
check "the build compiled every lua/kubelua/*.lua" $([ -z "$missing" ]; echo $?) "missing:$missing"
check "the build's bytecode is used exactly when it is as new as its source" $([ -z "$wrong" ]; echo $?) "wrong:$wrong"

mkdir -p "$tmp/nobc"
run "$KUBELUA" -e "$ERROR_IN_MODULE"
from_bytecode=$err
run env KUBELUA_LIB_DIR="$tmp/nobc" "$KUBELUA" -e "$ERROR_IN_MODULE"
check "an error in a bundled module reads the same from bytecode as from source" $([ "$from_bytecode" = "$err" ]; echo $?) "$from_bytecode"$'\n---\n'"$err"
check "... and names the source file:line" $([[ "$from_bytecode" =~ ^"kubelua: $ROOT/lua/kubelua/errors.lua:"[0-9]+": attempt to index" ]] && [[ "$from_bytecode" == *$'\n\t'"$ROOT/lua/kubelua/errors.lua:"[0-9]*": in function 'kubelua.errors.from_status'"* ]]; echo $?) "$from_bytecode"

run "$KUBELUA" -e 'require("kubelua").parallel(1, print)'
line=$(grep -n 'error("parallel: items must be a table' "$ROOT/lua/kubelua/init.lua" | cut -d: -f1)
check "a traceback through a bundled module names its source line" $([ "$rc" = 1 ] && [[ "$err" == *$'\n\t'"$ROOT/lua/kubelua/init.lua:$line: in function 'kubelua.parallel'"* ]]; echo $?) "$err"

# ---- a copy of the library, compiled by the build's own step
lua=$tmp/lua lib=$tmp/lib
cp -r "$ROOT/lua" "$lua"
mkdir -p "$lib/kubelua"
compile() { "$KUBELUA" "$build/generated/luac.lua" "$lua/kubelua/$1.lua" "$lib/kubelua/$1.luac"; }
ok=0
for src in "$lua"/kubelua/*.lua; do compile "$(basename "$src" .lua)" || ok=1; done
check "the build's compile step compiles the copy" $ok
export KUBELUA_LUA_DIR=$lua KUBELUA_LIB_DIR=$lib

check "fresh bytecode is found, named by its source" $([ "$(found kubelua.errors)" = "function	$lua/kubelua/errors.lua" ]; echo $?) "$(found kubelua.errors)"
run "$KUBELUA" -e 'local k = require "kubelua" print(type(k.connect), k.version == require "kubelua.version")'
check "require 'kubelua' works from bytecode" $([ "$rc" = 0 ] && [ "$out" = "function	true" ]; echo $?) "$out$err"
run "$KUBELUA" -e "$ERROR_IN_MODULE"
from_bytecode=$err
run env KUBELUA_LIB_DIR="$tmp/nobc" "$KUBELUA" -e "$ERROR_IN_MODULE"
check "the copy's error names the copy's source, as from source" $([ "$from_bytecode" = "$err" ] && [[ "$err" == "kubelua: $lua/kubelua/errors.lua:"* ]]; echo $?) "$from_bytecode"$'\n---\n'"$err"

# edit a module: bytecode newer than the edit would still win (it does not
# look at contents), a source newer than the bytecode wins
EDITED='print(rawget(_G, "KUBELUA_TEST_EDIT"))'
{ echo 'KUBELUA_TEST_EDIT = "edited"'; cat "$ROOT/lua/kubelua/errors.lua"; } >"$lua/kubelua/errors.lua"
touch -d '2020-01-01 00:00:00' "$lua/kubelua/errors.lua"
run "$KUBELUA" -e "require 'kubelua.errors' $EDITED"
check "a source older than its bytecode: the bytecode loads" $([ "$out" = nil ]; echo $?) "$out$err"
touch "$lua/kubelua/errors.lua"
run "$KUBELUA" -e "require 'kubelua.errors' $EDITED"
check "a source edited after the build loads without a rebuild" $([ "$out" = edited ]; echo $?) "$out$err"
check "... and the searcher declines the stale bytecode" $([ "$(found kubelua.errors)" = "nil	nil" ]; echo $?) "$(found kubelua.errors)"
run "$KUBELUA" -e 'local k = require "kubelua" print(type(k.errors.new))'
check "the other modules still load with it" $([ "$out" = function ]; echo $?) "$out$err"

# sub-second: the same second, the source half a second newer
if touch -d '@1700000000.2' "$lib/kubelua/errors.luac" 2>/dev/null &&
   [ "$(stat -c %y "$lib/kubelua/errors.luac")" != "$(touch -d '@1700000000.7' "$tmp/probe" && stat -c %y "$tmp/probe")" ]; then
  touch -d '@1700000000.7' "$lua/kubelua/errors.lua"
  run "$KUBELUA" -e "require 'kubelua.errors' $EDITED"
  check "a source newer by a fraction of a second wins" $([ "$out" = edited ]; echo $?) "$out$err"
  touch -d '@1700000000.7' "$lib/kubelua/errors.luac"
  run "$KUBELUA" -e "require 'kubelua.errors' $EDITED"
  check "bytecode exactly as new as its source loads" $([ "$out" = nil ]; echo $?) "$out$err"
fi

# bytecode that is not usable: the source loads, silently
printf 'garbage' >"$lib/kubelua/jwt.luac"
run "$KUBELUA" -e 'print(type(require("kubelua.jwt").claims))'
check "corrupt bytecode: the source loads, nothing said" $([ "$rc" = 0 ] && [ "$out" = function ] && [ -z "$err" ]; echo $?) "$out$err"
# the build's bytecode names the source tree: for this copy it is another
# directory's, even when newer than the copy's sources
touch -d '2020-01-01 00:00:00' "$lua/kubelua/log.lua"
run env KUBELUA_LIB_DIR="$build/lib" "$KUBELUA" -e "local function found(...) $FOUND end found('kubelua.log')"
check "bytecode compiled from another directory's source is declined" $([ "$out" = "nil	nil" ]; echo $?) "$out$err"

# only kubelua's own directory, and only what the source searcher would load
mkdir -p "$tmp/user/kubelua"
printf 'return { mine = true }\n' >"$tmp/user/kubelua/log.lua"
printf 'return { extra = true }\n' >"$tmp/user/kubelua/extra.lua"
run "$KUBELUA" -e "package.path = '$tmp/user/?.lua;' .. package.path print(require('kubelua.log').mine)"
check "a module a script puts ahead on package.path wins over the bytecode" $([ "$out" = true ]; echo $?) "$out$err"
run env LUA_PATH="$tmp/user/?.lua;;" "$KUBELUA" -e "print(require('kubelua.extra').extra)"
check "a user's own kubelua.* module on LUA_PATH loads from source" $([ "$out" = true ]; echo $?) "$out$err"
cp "$lib/kubelua/errors.luac" "$tmp/script.luac"
run "$KUBELUA" "$tmp/script.luac"
check "scripts stay source-only" $([ "$rc" = 1 ] && [[ "$err" == *"attempt to load a binary chunk"* ]]; echo $?) "$out$err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
