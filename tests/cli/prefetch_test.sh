#!/usr/bin/env bash
# require "kubelua" starts mapping kubelua.http (libcurl) on a second thread
# (host/kl_prefetch.c): the later require finds it mapped and works, plain
# `kubelua -e ''` still never maps libcurl, and a missing or broken http.so
# is reported by the require alone, as before.
set -u
KUBELUA=${KUBELUA:-build/kubelua}
ROOT=${KUBELUA_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, condition result (0 = ok), [detail shown on failure]
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok     $1"
  else fail=$((fail + 1)); echo "FAILED $1"; [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/       | /'; fi
}
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); }

# Lua: mapped() tells whether libcurl is in this process's address space
MAPPED='local function mapped()
  for l in io.lines("/proc/self/maps") do if l:find("libcurl", 1, true) then return true end end
  return false
end '

run "$KUBELUA" -e "$MAPPED print(mapped())"
check "kubelua -e '' does not map libcurl" $([ "$rc" = 0 ] && [ "$out" = false ]; echo $?) "$out$err"

run "$KUBELUA" -e "$MAPPED require 'kubelua.json' require 'kubelua.yaml' print(mapped())"
check "the data modules do not map libcurl" $([ "$rc" = 0 ] && [ "$out" = false ]; echo $?) "$out$err"

# The thread maps libcurl with no require of kubelua.http: wait for it (at
# most 20000 reads of the maps or 20 s; it takes a few milliseconds).
run "$KUBELUA" -e "$MAPPED require 'kubelua'
local deadline, n = os.time() + 20, 0
while not mapped() and n < 20000 and os.time() < deadline do n = n + 1 end
print(mapped(), package.loaded['kubelua.http'] == nil)"
check "require 'kubelua' maps libcurl on its own" $([ "$rc" = 0 ] && [ "$out" = "true	true" ]; echo $?) "$out$err"

run "$KUBELUA" -e "require 'kubelua'
local v = require('kubelua.http').curl_version()
print(v.version:match('^%d+%.%d+%.%d+') ~= nil, type(v.ssl) == 'string' and #v.ssl > 0)"
check "after require 'kubelua', kubelua.http loads and names its libcurl" $([ "$rc" = 0 ] && [ "$out" = "true	true" ]; echo $?) "$out$err"

# racing the thread: kubelua.http right after kubelua, a request at once
run "$KUBELUA" -e "require 'kubelua'
local echo = dofile('$ROOT/tests/fixtures/echo.lua').start()
local resp, err = require('kubelua.http').request{ url = echo.http .. '/echo' }:perform()
echo.stop()
print(resp and resp.status, err)
local n = 0
for l in io.lines('/proc/self/maps') do
  if l:find('/kubelua/http.so', 1, true) and l:find('r-xp', 1, true) then n = n + 1 end
end
print('http.so text mappings', n)"
check "a request right after require 'kubelua' succeeds" $([ "$rc" = 0 ] && [[ "$out" == "200	nil"$'\n'* ]]; echo $?) "$out$err"
check "http.so is mapped once (the thread's dlopen and require's share it)" $([[ "$out" == *"http.so text mappings	1" ]]; echo $?) "$out$err"

# no http.so where KUBELUA_LIB_DIR points: the prefetch finds nothing, says nothing
mkdir -p "$tmp/empty"
run env KUBELUA_LIB_DIR="$tmp/empty" LUA_CPATH="$tmp/empty/?.so" "$KUBELUA" -e "require 'kubelua' print('ok')"
check "without http.so, require 'kubelua' works and is silent" $([ "$rc" = 0 ] && [ "$out" = ok ] && [ -z "$err" ]; echo $?) "$out$err"
run env KUBELUA_LIB_DIR="$tmp/empty" LUA_CPATH="$tmp/empty/?.so" "$KUBELUA" -e "require 'kubelua' require 'kubelua.http'"
check "without http.so, require 'kubelua.http' gives its usual error" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: (command line):1: module 'kubelua.http' not found:"* ]]; echo $?) "$out$err"

# an http.so that is not a library: the thread's dlopen fails silently, the
# require reports the loader's error
mkdir -p "$tmp/broken/kubelua"
echo "not a shared library" >"$tmp/broken/kubelua/http.so"
run env KUBELUA_LIB_DIR="$tmp/broken" "$KUBELUA" -e "require 'kubelua' print('ok')"
check "a broken http.so: require 'kubelua' works and is silent" $([ "$rc" = 0 ] && [ "$out" = ok ] && [ -z "$err" ]; echo $?) "$out$err"
run env KUBELUA_LIB_DIR="$tmp/broken" "$KUBELUA" -e "require 'kubelua' require 'kubelua.http'"
check "a broken http.so: require 'kubelua.http' reports the loader's error" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: error loading module 'kubelua.http' from file '$tmp/broken/kubelua/http.so':"* ]]; echo $?) "$out$err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
