-- kubelua.cli: the option parser shared by scripts/*.lua, and its helpers.
local t = require "testlib"
local cli = require "kubelua.cli"

local spec = {
  usage = "kubelua scripts/demo.lua [options] [NAME]",
  summary = "A demo script.",
  args = { min = 0, max = 1, metavar = "NAME" },
  options = {
    { "show-token", type = "boolean", help = "print the token" },
    { "token-file", metavar = "PATH", help = "write the token to PATH" },
    { "count", type = "int", min = 1, max = 1000, help = "how many" },
    { "duration", type = "duration", default = 3600, min = 600, help = "token lifetime" },
    { "audience", type = "list", help = "audiences (repeatable)" },
    { "output", short = "o", type = "enum", choices = { "table", "json", "yaml" },
      default = "table", help = "output format" },
    { "namespace", short = "n", default = "devops-tools", help = "the tutorial's namespace" },
  },
}

local function argv(...)
  local a = { [0] = "scripts/demo.lua", ... }
  return a
end

-- { argv, expected fields (subset) }
local ok_cases = {
  { {}, { ["show-token"] = nil, namespace = "devops-tools", duration = 3600, output = "table",
          v = 0, args = {} } },
  { { "--show-token" }, { ["show-token"] = true } },
  { { "--show-token=false" }, { ["show-token"] = false } },
  { { "--show-token=true" }, { ["show-token"] = true } },
  { { "--token-file", "/tmp/x" }, { ["token-file"] = "/tmp/x" } },
  { { "--token-file=/tmp/x=y" }, { ["token-file"] = "/tmp/x=y" } },
  { { "-n", "ns1" }, { namespace = "ns1" } },
  { { "-n=ns1" }, { namespace = "ns1" } },
  { { "-nns1" }, { namespace = "ns1" } },
  { { "--namespace", "ns1" }, { namespace = "ns1" } },
  { { "--namespace=ns1" }, { namespace = "ns1" } },
  { { "-v" }, { v = 6 } },
  { { "-v=8" }, { v = 8 } },
  { { "-v", "9" }, { v = 9 } },
  { { "-v9" }, { v = 9 } },
  { { "--v=7" }, { v = 7 } },
  { { "-v", "name" }, { v = 6, args = { "name" } } },
  { { "--count", "200" }, { count = 200 } },
  { { "--duration", "10m" }, { duration = 600 } },
  { { "--duration=1h30m" }, { duration = 5400 } },
  { { "--duration", "900" }, { duration = 900 } },
  { { "--audience", "a", "--audience=b" }, { audience = { "a", "b" } } },
  { { "-o", "json" }, { output = "json" } },
  { { "-ojson" }, { output = "json" } },
  { { "--kubeconfig", "/k", "--context", "c" }, { kubeconfig = "/k", context = "c" } },
  { { "name" }, { args = { "name" } } },
  { { "--", "--show-token" }, { args = { "--show-token" }, ["show-token"] = nil } },
  { { "-" }, { args = { "-" } } },
  { { "--help" }, { help = true } },
  { { "-h", "--count=x" }, { help = true } },
}

for i, c in ipairs(ok_cases) do
  t.test(("parse ok %d: %s"):format(i, table.concat(c[1], " ")), function()
    local opts, err = cli.parse_args(argv(table.unpack(c[1])), spec)
    t.eq(err, nil)
    for k, v in pairs(c[2]) do t.eq(opts[k], v, k) end
  end)
end

-- every failure path, with its exact message
local bad_cases = {
  { { "--nope" }, "unknown flag: --nope" },
  { { "--nope=1" }, "unknown flag: --nope" },
  { { "-x" }, "unknown shorthand flag: 'x' in -x" },
  { { "-hx" }, "unknown shorthand flag: 'x' in -hx" },
  { { "--token-file" }, "flag needs an argument: --token-file" },
  { { "-n" }, "flag needs an argument: -n" },
  { { "--count", "ten" }, 'invalid argument "ten" for "--count" flag: not an integer' },
  { { "--count=0" }, 'invalid argument "0" for "--count" flag: must be at least 1' },
  { { "--count=1001" }, 'invalid argument "1001" for "--count" flag: must be at most 1000' },
  { { "--duration", "5m" }, 'invalid argument "5m" for "--duration" flag: must be at least 10m' },
  { { "--duration", "10 minutes" }, 'invalid argument "10 minutes" for "--duration" flag: '
    .. 'invalid duration "10 minutes" (use e.g. 90s, 10m, 1h30m)' },
  { { "--duration", "m" },
    'invalid argument "m" for "--duration" flag: invalid duration "m" (use e.g. 90s, 10m, 1h30m)' },
  { { "--show-token=yes" },
    'invalid argument "yes" for "--show-token" flag: must be true or false' },
  { { "-o", "xml" }, 'invalid argument "xml" for "-o" flag: must be one of table|json|yaml' },
  { { "-v=11" }, 'invalid argument "11" for "-v" flag: must be at most 10' },
  { { "-v=x" }, 'invalid argument "x" for "-v" flag: not an integer' },
  { { "a", "b" }, 'unexpected argument "b"' },
}

for i, c in ipairs(bad_cases) do
  t.test(("parse error %d: %s"):format(i, c[2]), function()
    local opts, err = cli.parse_args(argv(table.unpack(c[1])), spec)
    t.eq(opts, nil)
    t.eq(err, c[2])
  end)
end

t.test("--help wins over errors; --help=true too; -- ends the flags", function()
  local s = { options = { { "service-account", required = true } } }
  t.eq(cli.parse_args(argv("--nope", "--help"), s), { help = true, args = {} })
  t.eq(cli.parse_args(argv("--help=true"), s).help, true)
  local opts, err = cli.parse_args(argv("--", "--help"), s)
  t.eq({ opts, err }, { nil, 'unexpected argument "--help"' })
end)

t.test("required flags and minimum positionals", function()
  local s = { args = { min = 1, max = 1, metavar = "TOKEN" },
              options = { { "service-account", required = true } } }
  local _, err = cli.parse_args(argv("tok"), s)
  t.eq(err, 'required flag "--service-account" not set')
  _, err = cli.parse_args(argv("--service-account", "sa"), s)
  t.eq(err, "missing argument TOKEN")
  local opts = assert(cli.parse_args(argv("--service-account", "sa", "tok"), s))
  t.eq(opts["service-account"], "sa")
  t.eq(opts.args, { "tok" })
end)

t.test("list defaults are copied, not shared", function()
  local s = { options = { { "audience", type = "list", default = { "x" } } } }
  local a = assert(cli.parse_args(argv(), s))
  a.audience[2] = "y"
  local b = assert(cli.parse_args(argv(), s))
  t.eq(b.audience, { "x" })
end)

t.test("help is generated from the spec", function()
  local h = cli.help(spec, argv())
  t.contains(h, "Usage: kubelua scripts/demo.lua [options] [NAME]")
  t.contains(h, "A demo script.")
  t.contains(h, "      --show-token")
  t.contains(h, "      --token-file PATH")
  t.contains(h, '  -n, --namespace NS')
  t.contains(h, 'the tutorial\'s namespace (default "devops-tools")')
  t.contains(h, "token lifetime (default 1h)")
  t.contains(h, "-o, --output table|json|yaml")
  t.contains(h, "Global options:")
  t.contains(h, "      --kubeconfig FILE")
  t.contains(h, "-v, -v=N")
  -- the overridden -n is listed once, under the script's options
  local _, count = h:gsub("%-%-namespace", "")
  t.eq(count, 1)
  t.ok(h:find("Options:.*namespace.*Global options:"), "namespace under Options")
end)

t.test("durations", function()
  local rows = {
    { "0", 0 }, { "45s", 45 }, { "10m", 600 }, { "2h", 7200 }, { "1h30m", 5400 },
    { "1h0m5s", 3605 },
  }
  for _, r in ipairs(rows) do t.eq(cli.parse_duration(r[1]), r[2], r[1]) end
  local fmt = { { 0, "0s" }, { 45, "45s" }, { 600, "10m" }, { 3600, "1h" }, { 5400, "1h30m" },
                { 3605, "1h5s" } }
  for _, r in ipairs(fmt) do t.eq(cli.format_duration(r[1]), r[2], tostring(r[1])) end
  local ages = { { 5, "5s" }, { 119, "119s" }, { 150, "2m30s" }, { 600, "10m" },
                 { 3600, "60m" },
                 { 7200, "120m" }, { 11520, "3h12m" }, { 86400 * 3, "3d" },
                 { 86400 * 10 + 3600, "10d" } }
  for _, r in ipairs(ages) do t.eq(cli.age(r[1]), r[2], tostring(r[1])) end
end)

t.test("format_table aligns like kubectl", function()
  t.eq(cli.format_table({ "name", "status" }, { { "devops-tools", "Active" }, { "a", "" } }),
    "NAME           STATUS\ndevops-tools   Active\na\n")
end)

local function mode(path)
  local p = io.popen("stat -c %a " .. cli.shell_quote(path))
  local m = p:read("l")
  p:close()
  return m
end

t.test("write_private writes 0600 atomically and replaces wider files", function()
  local dir = os.tmpname()
  os.remove(dir)
  assert(cli.make_private_dir(dir .. "/sub"))
  t.eq(mode(dir .. "/sub"), "700")
  local path = dir .. "/sub/token"
  local f = assert(io.open(path, "w"))
  f:write("old")
  f:close()
  os.execute("chmod 644 " .. cli.shell_quote(path))
  assert(cli.write_private(path, "secret\n"))
  t.eq(mode(path), "600")
  t.eq(cli.read_file(path), "secret\n")
  -- no temporary file left behind
  local p = io.popen("ls -A " .. cli.shell_quote(dir .. "/sub"))
  t.eq(p:read("a"), "token\n")
  p:close()
  os.execute("rm -rf " .. cli.shell_quote(dir))
end)

t.test("write_private and read_file report failures in one line", function()
  local ok, err = cli.write_private("/nonexistent-dir/x", "s")
  t.eq(ok, nil)
  t.eq(err, "cannot write /nonexistent-dir/x: No such file or directory")
  ok, err = cli.write_private("/", "s")
  t.eq({ ok, err }, { nil, "cannot write /: not a file name" })
  local s, rerr = cli.read_file("/nonexistent-file")
  t.eq(s, nil)
  t.eq(rerr, "cannot read /nonexistent-file: No such file or directory")
end)

t.test("make_private_dir: 0700, and one clean reason when it cannot", function()
  local dir = os.tmpname()
  os.remove(dir)
  t.eq(cli.make_private_dir(dir .. "/a/b"), true)
  local p = io.popen("stat -c %a " .. cli.shell_quote(dir .. "/a/b"))
  t.eq(p:read("l"), "700")
  p:close()
  t.eq(cli.make_private_dir(dir .. "/a/b"), true) -- already there
  local f = assert(io.open(dir .. "/file", "w"))
  f:close()
  local rows = {
    { dir .. "/file", "a file of that name exists" },
    { dir .. "/file/sub", "Not a directory" },
  }
  for _, r in ipairs(rows) do
    local ok, err = cli.make_private_dir(r[1])
    t.eq({ ok, err }, { nil, ("cannot create directory %s: %s"):format(r[1], r[2]) })
  end
  os.execute("rm -rf " .. cli.shell_quote(dir))
end)

t.test("connect_options: the global flags, extra fields, false leaves one out", function()
  t.eq(cli.connect_options{ kubeconfig = "k", context = "c", namespace = "n", v = 0 },
    { kubeconfig = "k", context = "c", namespace = "n" })
  t.eq(cli.connect_options({ namespace = "n", v = 8 }, { namespace = false, timeout = 5 }),
    { verbose = 8, timeout = 5 })
end)

t.test("check and try raise an expected error carrying the message", function()
  local ok, e = pcall(cli.check, nil, "boom")
  t.eq(ok, false)
  t.eq(tostring(e), "boom")
  t.eq(cli.check(1, "x"), 1)
  local function failing() return nil, "error: boom\nmore" end
  ok, e = pcall(function() return cli.try("reading the Secret", failing()) end)
  t.eq(ok, false)
  t.eq(tostring(e), "reading the Secret: boom more")
  t.eq(select("#", cli.try("x", 1, 2)), 2)
end)

t.test("progress prints plain lines when not on a terminal", function()
  local lines = {}
  local file = {
    write = function(self, ...)
      for _, s in ipairs({ ... }) do lines[#lines + 1] = s end
      return self
    end,
    flush = function() end,
  }
  local p = cli.progress(2, { file = file, tty = false })
  p:step("ns-1", true)
  p:step("ns-2", false, "Error from server (Forbidden):\nno")
  p:done()
  t.eq(table.concat(lines), "[1/2] ns-1 ok\n[2/2] ns-2 failed: Error from server (Forbidden): no\n")
end)

t.test("temp_file is private and goes away when closed", function()
  local path
  do
    local f <close> = assert(cli.temp_file("pem data"))
    path = f.path
    t.eq(mode(path), "600")
    t.eq(cli.read_file(path), "pem data")
  end
  t.eq(io.open(path), nil)
  local f = assert(cli.temp_file("x"))
  f:remove()
  f:remove() -- twice is fine
end)
