#!/usr/bin/env bash
# End-to-end tests of the kubelua command line: exit codes, error reports,
# shebang, stdin, -e, arg, the REPL, and module resolution from the build
# tree and from an installed prefix.
set -u
KUBELUA=${KUBELUA:-build/kubelua}
ROOT=${KUBELUA_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, condition result (0 = ok)
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok     $1"
  else fail=$((fail + 1)); echo "FAILED $1"; fi
}
# run CMD...: captures stdout, stderr and the exit status
run() { "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; out=$(cat "$tmp/out"); err=$(cat "$tmp/err"); }

run "$KUBELUA" -e 'print(1 + 1)'
check "-e runs code" $([ "$rc" = 0 ] && [ "$out" = 2 ]; echo $?)

run "$KUBELUA" -e 'io.write("a")' -e 'io.write("b")'
check "-e chunks run in order" $([ "$out" = ab ]; echo $?)

printf 'print("from stdin", ...)\n' >"$tmp/in.lua"
run "$KUBELUA" - x y <"$tmp/in.lua"
check "- reads the script from stdin with args" $([ "$out" = "$(printf 'from stdin\tx\ty')" ]; echo $?)

run "$KUBELUA" <"$tmp/in.lua"
check "no args and no TTY runs stdin" $([ "$rc" = 0 ] && [ "$out" = "from stdin" ]; echo $?)

cat >"$tmp/args.lua" <<'L'
print(arg[0], arg[1], arg[2], #arg, select("#", ...))
L
run "$KUBELUA" "$tmp/args.lua" one two
check "arg table and ... as lua sets them" $([ "$out" = "$(printf '%s\tone\ttwo\t2\t2' "$tmp/args.lua")" ]; echo $?)

run "$KUBELUA" -v=6 -e 'print(os.getenv("KUBELUA_VERBOSE"))'
check "-v=N sets KUBELUA_VERBOSE" $([ "$out" = 6 ]; echo $?)

run "$KUBELUA" -v=x -e ''
check "-v with a bad level is one line, exit 1" $([ "$rc" = 1 ] && [ "$(echo "$err" | wc -l)" = 1 ] && [[ "$err" == *"-v takes a level"* ]]; echo $?)

cat >"$tmp/boom.lua" <<'L'
local function inner() error("boom") end
inner()
L
run "$KUBELUA" "$tmp/boom.lua"
check "script error: exit 1" $([ "$rc" = 1 ]; echo $?)
check "script error: kubelua: FILE:LINE: message" $([[ "$err" == "kubelua: $tmp/boom.lua:1: boom"* ]]; echo $?)
check "script error: traceback" $([[ "$err" == *"stack traceback:"*"in local 'inner'"* ]] || [[ "$err" == *"stack traceback:"*"inner"* ]]; echo $?)

run "$KUBELUA" -e 'error(setmetatable({}, {__tostring = function() return "Error from server (NotFound): x" end}))'
check "error objects print through __tostring" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: Error from server (NotFound): x"* ]]; echo $?)

run "$KUBELUA" -e 'error({})'
check "a table error without __tostring still prints" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: table: "* ]]; echo $?)

run "$KUBELUA" -e 'local function f() error(setmetatable({}, {__tostring = function() return "E!" end})) end f()'
check "an error object's report has its traceback" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: E!"$'\n'"stack traceback:"*"in local 'f'"* ]]; echo $?)

run "$KUBELUA" -e 'error(setmetatable({}, {__newindex = function() error("read-only") end, __tostring = function() return "RO" end}))'
check "a read-only error object keeps its message and traceback" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: RO"$'\n'"stack traceback:"* ]] && [[ "$err" != *read-only* ]]; echo $?)

run "$KUBELUA" -e 'error(setmetatable({}, {__tostring = function() error("bad tostring") end}))'
check "an error object whose __tostring fails is still reported" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: (error object is a table value; its __tostring failed: (command line):1: bad tostring)"$'\n'"stack traceback:"* ]]; echo $?)

run "$KUBELUA" -e 'error()'
check "error(nil) is reported" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: (error object is a nil value)"* ]]; echo $?)

printf 'local x = 1\nerror("from stdin")\n' >"$tmp/err.lua"
run "$KUBELUA" - <"$tmp/err.lua"
check "an error in a script read from stdin names stdin:LINE" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: stdin:2: from stdin"* ]]; echo $?)

"$KUBELUA" -e 'io.write("partial") os.exit(3)' >"$tmp/out" 2>&1; rc=$?
check "os.exit(n) flushes unterminated output to a pipe" $([ "$rc" = 3 ] && [ "$(cat "$tmp/out")" = partial ]; echo $?)

run "$KUBELUA" -e 'io.stdout:setvbuf("full") io.write("kept") os.exit(true, true)'
check "os.exit(true, true) closes the state, flushes, exits 0" $([ "$rc" = 0 ] && [ "$out" = kept ]; echo $?)

# a file of its own: waiting on $tmp/out could see the previous test's output
# and signal before kubelua even started (a background job then ignores SIGINT)
"$KUBELUA" -e 'io.write("busy\n") io.stdout:flush() while true do end' >"$tmp/busy" 2>"$tmp/err" &
pid=$!
for _ in $(seq 300); do [ "$(cat "$tmp/busy" 2>/dev/null)" = busy ] && break; sleep 0.1; done # the chunk runs
kill -INT "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null # never hang the suite
wait "$pid"; rc=$?
check "SIGINT stops a busy loop: interrupted!, traceback, exit 1" $([ "$rc" = 1 ] && [[ "$(cat "$tmp/err")" == "kubelua: interrupted!"$'\n'"stack traceback:"* ]]; echo $?)

run "$KUBELUA" -e 'os.exit(7)'
check "os.exit(n) is honoured" $([ "$rc" = 7 ]; echo $?)

run "$KUBELUA" -e 'print("out") os.exit(false)'
check "os.exit(false) exits 1 and flushes" $([ "$rc" = 1 ] && [ "$out" = out ]; echo $?)

run "$KUBELUA" "$tmp/missing.lua"
check "missing script: one line, exit 1" $([ "$rc" = 1 ] && [ "$err" = "kubelua: cannot open $tmp/missing.lua: No such file or directory" ]; echo $?)

printf 'x = = 1\n' >"$tmp/syntax.lua"
run "$KUBELUA" "$tmp/syntax.lua"
check "syntax error names file:line, exit 1" $([ "$rc" = 1 ] && [[ "$err" == "kubelua: $tmp/syntax.lua:1: unexpected symbol near '='"* ]]; echo $?)

run "$KUBELUA" -e 'print(undefined_name)'
check "reading an undefined global is an error" $([ "$rc" = 1 ] && [[ "$err" == *"undefined global 'undefined_name'"* ]]; echo $?)

printf '\x1bLua' >"$tmp/bytecode.lua"
run "$KUBELUA" "$tmp/bytecode.lua"
check "bytecode is refused" $([ "$rc" = 1 ] && [[ "$err" == *"attempt to load a binary chunk"* ]]; echo $?)

run "$KUBELUA" --bogus
check "unknown option: exit 1 with usage" $([ "$rc" = 1 ] && [[ "$err" == *"unrecognized option '--bogus'"* ]]; echo $?)

run "$KUBELUA" --version
check "--version names Lua and libcurl" $([ "$rc" = 0 ] && [[ "$out" == "kubelua "*"Lua 5.4"*"libcurl "* ]]; echo $?)

# libcurl is mapped only when a script loads kubelua.http
out=$("$KUBELUA" -e 'for l in io.lines("/proc/self/maps") do if l:find("libcurl", 1, true) then print("curl") break end end')
check "kubelua -e '' does not load libcurl" $([ -z "$out" ]; echo $?)
out=$("$KUBELUA" -e 'require "kubelua.http" for l in io.lines("/proc/self/maps") do if l:find("libcurl", 1, true) then print("curl") break end end')
check "require kubelua.http loads libcurl" $([ "$out" = curl ]; echo $?)

v=$("$KUBELUA" -e 'io.write(require("kubelua").version, " ", require("kubelua.client").USER_AGENT)')
check "one version: --version, k8s.version and the User-Agent agree" $([[ "$("$KUBELUA" --version)" == "kubelua ${v%% *} ("* ]] && [ "${v#* }" = "kubelua/${v%% *}" ]; echo $?)

run "$KUBELUA" --help
check "--help" $([ "$rc" = 0 ] && [[ "$out" == usage:* ]]; echo $?)

printf '#!/usr/bin/env kubelua\nprint("shebang", arg[1])\n' >"$tmp/sb"
chmod +x "$tmp/sb"
mkdir -p "$tmp/bin" && ln -s "$(readlink -f "$KUBELUA")" "$tmp/bin/kubelua"
out=$(PATH="$tmp/bin:$PATH" "$tmp/sb" z 2>&1)
check "#!/usr/bin/env kubelua works" $([ "$out" = "$(printf 'shebang\tz')" ]; echo $?)

out=$(env -u LUA_PATH -u LUA_PATH_5_4 "$KUBELUA" -e 'local k = require "kubelua"; print(type(k.base64), type(k.json), type(k.yaml))' 2>&1)
check "require kubelua without LUA_PATH" $([ "$out" = "$(printf 'table\ttable\ttable')" ]; echo $?)

mkdir -p "$tmp/mylib"
printf 'return { hello = "mine" }\n' >"$tmp/mylib/mymod.lua"
out=$(LUA_PATH="$tmp/mylib/?.lua;;" "$KUBELUA" -e 'print(require("mymod").hello, type(require("kubelua").json))' 2>&1)
check "users can still add their own LUA_PATH" $([ "$out" = "$(printf 'mine\ttable')" ]; echo $?)

out=$("$KUBELUA" -e 'print(require("cjson").encode({1}))' 2>&1)
check "require cjson keeps working" $([ "$out" = "[1]" ]; echo $?)

# An installed prefix finds its own copy of the Lua library.
build_dir=$(dirname "$(readlink -f "$KUBELUA")")
if cmake --install "$build_dir" --prefix "$tmp/prefix" >/dev/null 2>&1; then
  out=$(cd / && env -u LUA_PATH "$tmp/prefix/bin/kubelua" -e 'print(package.searchpath("kubelua", package.path))' 2>&1)
  check "installed binary resolves kubelua from its prefix" $([ "$out" = "$tmp/prefix/bin/../share/kubelua/lua/kubelua/init.lua" ]; echo $?)
  out=$(cd / && env -u LUA_CPATH "$tmp/prefix/bin/kubelua" -e 'require "kubelua.http"; print(package.searchpath("kubelua.http", package.cpath))' 2>&1)
  check "installed binary loads kubelua.http from its prefix" $([[ "$out" == "$tmp/prefix/bin/../lib"*"/kubelua/kubelua/http.so" ]]; echo $?)
else
  check "cmake --install into a prefix" 1
fi

if command -v script >/dev/null; then
  printf 'return 6 * 7\nlocal t = {\n1}\nprint(#t)\n' >"$tmp/repl_in"
  out=$(script -qec "$KUBELUA" /dev/null <"$tmp/repl_in" 2>&1 | tr -d '\r')
  check "REPL on a TTY evaluates expressions" $([[ "$out" == *42* ]]; echo $?)
  check "REPL continues unfinished statements" $([[ "$out" == *">> "* ]] && [[ "$out" == *$'\n'1* ]]; echo $?)
  printf 'error("boom")\nx = 5\nx * 2\n' >"$tmp/repl_in"
  out=$(script -qec "$KUBELUA" /dev/null <"$tmp/repl_in" 2>&1 | tr -d '\r')
  check "REPL reports an error and goes on" $([[ "$out" == *"kubelua: stdin:1: boom"*"> 10"* ]]; echo $?)
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
