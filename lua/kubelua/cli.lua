-- kubelua.cli: the one option parser and the output helpers of the bundled
-- scripts (scripts/*.lua).
--
-- Flags follow kubectl (pflag): `--flag=value` and `--flag value`, short
-- `-n value`, `-n=value` and `-nvalue`, booleans as `--flag` or
-- `--flag=true|false`, `--` ends the flags. Every script gets the global
-- flags `--kubeconfig`, `--context`, `-n/--namespace`, `-v[=N]` and `--help`;
-- `--help` is generated from the spec. A usage error is one line on stderr
-- and exit status 2; a failure (cli.fail, or an error object reaching
-- cli.main) is one line `error: ...` and exit status 1.
--
--   local cli = require "kubelua.cli"
--   local opts = cli.parse(arg, {
--     usage = "kubelua scripts/token.lua -n NS --service-account SA [options]",
--     summary = "Print a short-lived token for a service account.",
--     options = {
--       { "service-account", metavar = "SA", required = true, help = "..." },
--       { "duration", type = "duration", default = 3600, help = "..." },
--       { "audience", type = "list", help = "..." },
--     },
--   })
--   cli.main(function() ... end)
local M = {}

M.EXIT_FAILURE = 1
M.EXIT_USAGE = 2

local function script_name(argv)
  local s = argv and argv[0] or "script"
  return (tostring(s):match("([^/]+)$")) or s
end

-- The global flags every script accepts; a script may override the help
-- text or default of -n/--namespace by declaring an option of that name.
local GLOBAL = {
  { "kubeconfig", metavar = "FILE",
    help = "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config)" },
  { "context", metavar = "NAME", help = "the kubeconfig context to use" },
  { "namespace", short = "n", metavar = "NS", help = "the namespace to work in" },
  { "v", type = "verbosity", metavar = "N", default = 0,
    help = "log API requests: 6 method/URL/status, 8 bodies, 9 curl commands (-v alone: 6)" },
  { "help", short = "h", type = "boolean", help = "print this help and exit" },
}

local TYPES = {
  string = true, boolean = true, int = true, duration = true, list = true,
  enum = true, verbosity = true,
}

--- Parses a Go-style duration ("90s", "10m", "1h30m", "2h") or a plain
--- number of seconds into an integer number of seconds.
--- @return integer|nil seconds, string|nil err
function M.parse_duration(s)
  s = tostring(s)
  if s:match("^%d+$") then return math.tointeger(tonumber(s)) end
  if s == "" or not s:match("^[%dhms]+$") then
    return nil, ("invalid duration %q (use e.g. 90s, 10m, 1h30m)"):format(s)
  end
  local total, rest = 0, s
  local units = { h = 3600, m = 60, s = 1 }
  while rest ~= "" do
    local n, u, tail = rest:match("^(%d+)([hms])(.*)$")
    if not n then return nil, ("invalid duration %q (use e.g. 90s, 10m, 1h30m)"):format(s) end
    total = total + tonumber(n) * units[u]
    rest = tail
  end
  return math.tointeger(total)
end

--- Formats seconds as a Go duration without zero parts: 45s, 10m, 1h30m.
function M.format_duration(sec)
  sec = math.max(0, math.floor(sec))
  if sec == 0 then return "0s" end
  local h, m, s = sec // 3600, sec % 3600 // 60, sec % 60
  return (h > 0 and (h .. "h") or "") .. (m > 0 and (m .. "m") or "")
    .. (s > 0 and (s .. "s") or "")
end

--- Formats an age as kubectl does: 45s, 2m30s, 12m, 3h12m, 5d.
function M.age(sec)
  sec = math.max(0, math.floor(sec))
  if sec < 120 then return sec .. "s" end
  local m = sec // 60
  if m < 10 then
    local s = sec % 60
    return s == 0 and (m .. "m") or (m .. "m" .. s .. "s")
  end
  if m < 180 then return m .. "m" end
  local h = m // 60
  if h < 48 then
    local mm = m % 60
    return (h < 8 and mm ~= 0) and (h .. "h" .. mm .. "m") or (h .. "h")
  end
  local d = h // 24
  local hh = h % 24
  return (d < 8 and hh ~= 0) and (d .. "d" .. hh .. "h") or (d .. "d")
end

local function build_index(spec)
  local list, long, short = {}, {}, {}
  local function add(o, global)
    local name = o[1] or o.name
    assert(type(name) == "string", "cli: option without a name")
    local t = o.type or "string"
    assert(TYPES[t], "cli: unknown option type " .. tostring(t))
    local prev = long[name]
    if prev then -- a script redefines a global (e.g. -n's help or default)
      for k, v in pairs(o) do prev[k] = v end
      prev.name, prev.type, prev.overridden = name, t, true
      return
    end
    local opt = {}
    for k, v in pairs(o) do opt[k] = v end
    opt.name, opt.type, opt.global = name, t, global
    list[#list + 1] = opt
    long[name] = opt
    if opt.short then short[opt.short] = opt end
  end
  for _, o in ipairs(GLOBAL) do add(o, true) end
  for _, o in ipairs(spec.options or {}) do add(o, false) end
  for _, o in pairs(long) do
    if o.short then short[o.short] = o end
  end
  return list, long, short
end

local BOOL = { ["true"] = true, ["1"] = true, ["false"] = false, ["0"] = false }

-- Converts the text of a value; returns value or nil, message.
local function convert(opt, text, flag)
  local t = opt.type
  local function bad(why)
    return nil, ("invalid argument %q for %q flag: %s"):format(text, flag, why)
  end
  if t == "string" or t == "list" then
    if opt.choices then
      for _, c in ipairs(opt.choices) do
        if c == text then return text end
      end
      return bad("must be one of " .. table.concat(opt.choices, "|"))
    end
    return text
  elseif t == "enum" then
    for _, c in ipairs(opt.choices) do
      if c == text then return text end
    end
    return bad("must be one of " .. table.concat(opt.choices, "|"))
  elseif t == "boolean" then
    local v = BOOL[text]
    if v == nil then return bad("must be true or false") end
    return v
  elseif t == "int" or t == "verbosity" then
    local n = text:match("^%-?%d+$") and math.tointeger(tonumber(text))
    if not n then return bad("not an integer") end
    local min = opt.min or (t == "verbosity" and 0) or nil
    local max = opt.max or (t == "verbosity" and 10) or nil
    if min and n < min then return bad("must be at least " .. min) end
    if max and n > max then return bad("must be at most " .. max) end
    return n
  elseif t == "duration" then
    local n, err = M.parse_duration(text)
    if not n then return bad(err) end
    if opt.min and n < opt.min then
      return bad("must be at least " .. M.format_duration(opt.min))
    end
    return n
  end
end

local function set(values, opt, v)
  if opt.type == "list" then
    local l = values[opt.name]
    if type(l) ~= "table" then
      l = {}
      values[opt.name] = l
    end
    l[#l + 1] = v
  else
    values[opt.name] = v
  end
end

-- The option an argument names, with its value when attached:
-- --name, --name=value, -n, -n=value, -nvalue (not for booleans).
-- @return opt, flag, value|nil | nil, err
local function lookup(a, long, short)
  if a:sub(1, 2) == "--" then
    local name, value = a:match("^%-%-([^=]+)=(.*)$")
    name = name or a:sub(3)
    if not long[name] then return nil, ("unknown flag: --%s"):format(name) end
    return long[name], "--" .. name, value
  end
  local c, tail = a:sub(2, 2), a:sub(3)
  local opt = c == "v" and long.v or short[c]
  if not opt then return nil, ("unknown shorthand flag: '%s' in %s"):format(c, a) end
  if tail:sub(1, 1) == "=" then return opt, "-" .. c, tail:sub(2) end
  if tail == "" then return opt, "-" .. c, nil end
  if opt.type == "boolean" then
    return nil, ("unknown shorthand flag: '%s' in %s"):format(tail:sub(1, 1), a)
  end
  return opt, "-" .. c, tail
end

-- The value of a flag whose argument was not attached: booleans need none,
-- -v alone is -v=6 (and -v N takes N only when it is a number), the rest
-- take the next argument. Returns the text and how many arguments it used.
local function detached_value(opt, flag, nxt)
  if opt.type == "boolean" then return "true", 0 end
  if opt.type == "verbosity" then
    if nxt and nxt:match("^%d+$") then return nxt, 1 end
    return "6", 0
  end
  if nxt == nil then return nil, ("flag needs an argument: %s"):format(flag) end
  return nxt, 1
end

-- Fills in defaults (copies of table defaults) and checks required flags.
local function complete(values, spec)
  for _, opt in ipairs((build_index(spec))) do
    if values[opt.name] == nil then
      if opt.required then
        return nil, ("required flag %q not set"):format("--" .. opt.name)
      end
      local d = opt.default
      values[opt.name] = type(d) == "table" and { table.unpack(d) } or d
    end
  end
  return values
end

local function check_args(args, spec)
  local a = spec.args or {}
  if #args < (a.min or 0) then return nil, ("missing argument %s"):format(a.metavar or "") end
  if #args > (a.max or 0) then
    return nil, ("unexpected argument %q"):format(args[(a.max or 0) + 1])
  end
  return true
end

local function wants_help(argv)
  for _, a in ipairs(argv) do
    if a == "--" then return false end
    if a == "--help" or a == "-h" then return true end
  end
  return false
end

--- Parses argv (a table with argv[1..n]; argv[0], when present, names the
--- script in messages) against spec. Pure: never prints, never exits.
--- @return table|nil opts, string|nil err  -- opts.args holds the positionals
function M.parse_args(argv, spec)
  spec = spec or {}
  if wants_help(argv) then return { help = true, args = {} } end -- as kubectl: before errors
  local _, long, short = build_index(spec)
  local values, args = {}, {}
  local i, only_args = 1, false
  while i <= #argv do
    local a = argv[i]
    if only_args or a == "-" or a:sub(1, 1) ~= "-" then
      args[#args + 1] = a
    elseif a == "--" then
      only_args = true
    else
      local opt, flag, text = lookup(a, long, short)
      if not opt then return nil, flag end
      if text == nil then
        local used
        text, used = detached_value(opt, flag, argv[i + 1])
        if text == nil then return nil, used end
        i = i + used
      end
      local v, err = convert(opt, text, flag)
      if v == nil then return nil, err end
      set(values, opt, v)
    end
    i = i + 1
  end
  if values.help then -- --help=true
    values.args = args
    return values
  end
  local ok, err = check_args(args, spec)
  if not ok then return nil, err end
  values, err = complete(values, spec)
  if not values then return nil, err end
  values.args = args
  return values
end

local function flag_label(opt)
  local s = opt.short and ("-" .. opt.short .. ", ") or "    "
  s = s .. "--" .. opt.name
  if opt.name == "v" then return "-v, -v=N" end
  if opt.type ~= "boolean" then
    local mv = opt.metavar
    if not mv then
      if opt.type == "enum" or opt.choices then
        mv = table.concat(opt.choices, "|")
      elseif opt.type == "int" then mv = "N"
      elseif opt.type == "duration" then mv = "DURATION"
      else mv = opt.name:upper():gsub("%-", "_") end
    end
    s = s .. " " .. mv
  end
  return s
end

local function default_text(opt)
  local d = opt.default
  if d == nil or opt.type == "boolean" or opt.type == "verbosity" then return "" end
  if opt.type == "duration" then return (" (default %s)"):format(M.format_duration(d)) end
  if type(d) == "table" then
    if #d == 0 then return "" end
    return (" (default %s)"):format(table.concat(d, ","))
  end
  return (" (default %s)"):format(type(d) == "string" and ("%q"):format(d) or tostring(d))
end

M.HELP_WIDTH = 100

-- Words of text on lines of at most `width` columns; the first line starts
-- after `first` columns, the others are indented by `indent` spaces.
local function wrap(text, width, first, indent)
  local lines, line, col = {}, {}, first
  for word in text:gmatch("%S+") do
    if #line > 0 and col + 1 + #word > width then
      lines[#lines + 1] = table.concat(line, " ")
      line, col = {}, indent
    end
    col = col + (#line > 0 and 1 or 0) + #word
    line[#line + 1] = word
  end
  lines[#lines + 1] = table.concat(line, " ")
  return table.concat(lines, "\n" .. string.rep(" ", indent))
end

--- The --help text for spec.
function M.help(spec, argv)
  local list = build_index(spec)
  local out = {}
  out[#out + 1] = "Usage: " .. (spec.usage or ("kubelua " .. script_name(argv) .. " [options]"))
  for _, text in ipairs({ spec.summary or false, spec.description or false }) do
    if text then
      out[#out + 1] = ""
      for para in (text .. "\n"):gmatch("([^\n]*)\n") do
        out[#out + 1] = wrap(para, M.HELP_WIDTH, 0, 0)
      end
    end
  end
  local width = 0
  for _, o in ipairs(list) do width = math.max(width, #flag_label(o)) end
  local function section(title, global)
    out[#out + 1] = ""
    out[#out + 1] = title
    for _, o in ipairs(list) do
      if (o.global and not o.overridden) == global then
        local text = (o.help or "") .. default_text(o) .. (o.required and " (required)" or "")
        out[#out + 1] = ("  %-" .. width .. "s  "):format(flag_label(o))
          .. wrap(text, M.HELP_WIDTH, width + 4, width + 4)
      end
    end
  end
  section("Options:", false)
  section("Global options:", true)
  if spec.examples then
    out[#out + 1] = ""
    out[#out + 1] = "Examples:"
    for _, e in ipairs(spec.examples) do out[#out + 1] = "  " .. e end
  end
  return table.concat(out, "\n") .. "\n"
end

--- Parses the script's `arg` against spec. Prints --help and exits 0 when
--- asked; a usage error is one line on stderr and exit status 2.
function M.parse(argv, spec)
  local opts, err = M.parse_args(argv, spec)
  if not opts then
    io.stderr:write(("error: %s (see 'kubelua %s --help')\n"):format(err,
      argv and argv[0] or script_name(argv)))
    os.exit(M.EXIT_USAGE)
  end
  if opts.help then
    io.stdout:write(M.help(spec, argv))
    os.exit(0)
  end
  return opts
end

--- The connect{} options for the global flags (kubeconfig, context,
--- namespace, verbosity), plus the fields of `extra`; a field set to false
--- there leaves the option out: `cli.connect_options(opts, { namespace = false })`
--- when -n names something else than the client's namespace.
function M.connect_options(opts, extra)
  local o = {
    kubeconfig = opts.kubeconfig, context = opts.context,
    namespace = opts.namespace, verbose = (opts.v or 0) > 0 and opts.v or nil,
  }
  for k, v in pairs(extra or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return o
end

-- ---------------------------------------------------------------------
-- Failures

local function one_line(s)
  return (tostring(s):gsub("%s*\r?\n%s*", " "):gsub("%s+$", ""))
end
M.one_line = one_line

--- The one-line text of an error (object or string), without a leading
--- "error: " (the error objects of kubelua print like kubectl, and the
--- scripts add their own prefix).
function M.message(err)
  return (one_line(tostring(err)):gsub("^error: ", ""))
end

--- Prints `error: msg` (one line) on stderr and exits with status 1.
function M.fail(msg, code)
  io.stdout:flush()
  io.stderr:write("error: ", one_line(msg), "\n")
  os.exit(code or M.EXIT_FAILURE)
end

--- Prints `warning: msg` on stderr.
function M.warn(msg)
  io.stdout:flush()
  io.stderr:write("warning: ", one_line(msg), "\n")
end

-- An expected failure raised as a value (so callers higher up can catch
-- it); cli.main prints it as one line.
local Expected = { __name = "kubelua.cli.Expected" }
Expected.__index = Expected
Expected.__tostring = function(e) return e.message end

--- Raises an expected failure: `cli.main` turns it into one line and exit 1.
function M.raise(msg)
  error(setmetatable({ message = M.message(msg) }, Expected), 0)
end

--- Returns v (and err) when v is truthy; otherwise raises err (an error
--- object or a message): `local c = cli.check(k8s.connect(o))`.
function M.check(v, err)
  if v ~= nil and v ~= false then return v, err end
  M.raise(err == nil and "failed" or M.message(err))
end

--- cli.check with a prefix saying what was being done; `what` comes first
--- so that a call's results expand in full:
--- `cli.try("reading the Secret", c:get(...))` raises "reading the Secret: <err>".
function M.try(what, v, err)
  if v ~= nil and v ~= false then return v, err end
  M.raise(what .. ": " .. (err == nil and "failed" or M.message(err)))
end

local function is_error_object(e)
  if type(e) ~= "table" then return false end
  if getmetatable(e) == Expected then return true end
  local mt = getmetatable(e)
  return mt ~= nil and (mt.__name == "kubelua.Error" or e.kind ~= nil) and mt.__tostring ~= nil
end

--- Runs fn (with the given arguments) and exits: with fn's integer result
--- (default 0); with 1 and one line `error: ...` when fn raises an error
--- object; with 1, the message and a traceback when fn raises anything else
--- (a bug in the script).
function M.main(fn, ...)
  local args = table.pack(...)
  local ok, res = xpcall(function() return fn(table.unpack(args, 1, args.n)) end, function(e)
    if is_error_object(e) then return e end
    return { bug = true, message = tostring(e), traceback = debug.traceback(tostring(e), 2) }
  end)
  io.stdout:flush()
  if ok then
    os.exit(math.type(res) == "integer" and res or 0)
  end
  if type(res) == "table" and res.bug then
    io.stderr:write("error: ", one_line(res.message), "\n", res.traceback, "\n")
  else
    io.stderr:write("error: ", M.message(res), "\n")
  end
  os.exit(M.EXIT_FAILURE)
end

-- ---------------------------------------------------------------------
-- Files and the terminal

--- Quotes s for /bin/sh.
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local tty_cache = {}
--- True when file descriptor fd (1: stdout, 2: stderr) is a terminal.
--- KUBELUA_TTY=0|1 overrides the check (tests).
function M.isatty(fd)
  fd = fd or 1
  local force = os.getenv("KUBELUA_TTY")
  if force == "1" then return true elseif force == "0" then return false end
  if tty_cache[fd] == nil then
    local ok = os.execute("test -t " .. math.tointeger(fd))
    tty_cache[fd] = ok == true
  end
  return tty_cache[fd]
end

--- Reads a whole file ("-" is stdin).
--- @return string|nil content, string|nil err
function M.read_file(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, ("cannot read %s: %s"):format(path, (err:gsub("^[^:]*: ", ""))) end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes content to path so that it only ever exists complete and with
--- mode 0600: the data goes to a temporary file created 0600 by mktemp in
--- the same directory, which is then renamed over path.
--- @return true|nil ok, string|nil err
function M.write_private(path, content)
  local dir = path:match("^(.*)/[^/]*$") or "."
  if dir == "" then dir = "/" end
  local base = path:match("([^/]*)$")
  if base == "" then return nil, ("cannot write %s: not a file name"):format(path) end
  local template = M.shell_quote(dir .. "/." .. base .. ".XXXXXX")
  local p = io.popen("export LC_ALL=C; umask 077 && mktemp " .. template .. " 2>&1")
  local tmp = p and p:read("l")
  local okp = p and p:close()
  if not okp or not tmp or tmp == "" then
    -- mktemp: failed to create file via template '/d/.f.XXXXXX': No such file or directory
    local why = tmp and tmp:gsub("^mktemp: ", ""):gsub("^failed to create file via template "
      .. "'[^']*': ", "") or "mktemp failed"
    return nil, ("cannot write %s: %s"):format(path, why)
  end
  local f, err = io.open(tmp, "wb")
  if not f then
    os.remove(tmp)
    return nil, ("cannot write %s: %s"):format(path, err)
  end
  local okw, werr = f:write(content)
  local okc, cerr = f:close()
  if not okw or not okc then
    os.remove(tmp)
    return nil, ("cannot write %s: %s"):format(path, werr or cerr)
  end
  local okr, rerr = os.rename(tmp, path)
  if not okr then
    os.remove(tmp)
    return nil, ("cannot write %s: %s"):format(path, (rerr:gsub("^[^:]*: ", "")))
  end
  return true
end

local TempFile = { __name = "kubelua.cli.TempFile" }
TempFile.__index = TempFile
function TempFile:remove()
  if self.path then os.remove(self.path) end
  self.path = nil
end
TempFile.__close = TempFile.remove
TempFile.__gc = TempFile.remove

--- A private (0600) temporary file holding content, removed when the
--- returned object is closed or collected: `local f <close> = cli.temp_file(pem)`;
--- f.path names it.
--- @return table|nil file, string|nil err
function M.temp_file(content)
  local path = os.tmpname()
  local ok, err = M.write_private(path, content)
  if not ok then
    os.remove(path)
    return nil, err
  end
  return setmetatable({ path = path }, TempFile)
end

--- Creates directory path (and its parents) with mode 0700 when missing.
--- @return true|nil ok, string|nil err
function M.make_private_dir(path)
  local p = io.popen("export LC_ALL=C; umask 077 && mkdir -p -- " .. M.shell_quote(path) .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    -- mkdir: cannot create directory 'x': File exists -> File exists
    local why = one_line(out):gsub("^mkdir: ", ""):gsub("^cannot create directory '[^']*': ", "")
    if why == "File exists" then why = "a file of that name exists" end
    return nil, ("cannot create directory %s: %s"):format(path, why)
  end
  return true
end

-- ---------------------------------------------------------------------
-- Output

--- Formats rows (arrays of cells) under headers as kubectl prints tables:
--- upper-case headers, columns left-aligned and separated by three spaces.
function M.format_table(headers, rows)
  local widths = {}
  local all = { headers }
  for _, r in ipairs(rows) do all[#all + 1] = r end
  for _, r in ipairs(all) do
    for j = 1, #headers do
      local cell = r[j] == nil and "" or tostring(r[j])
      widths[j] = math.max(widths[j] or 0, utf8.len(cell) or #cell)
    end
  end
  local out = {}
  for i, r in ipairs(all) do
    local cells = {}
    for j = 1, #headers do
      local cell = r[j] == nil and "" or tostring(r[j])
      if i == 1 then cell = cell:upper() end
      if j < #headers then
        cell = cell .. string.rep(" ", widths[j] - (utf8.len(cell) or #cell))
      end
      cells[j] = cell
    end
    out[#out + 1] = (table.concat(cells, "   "):gsub("%s+$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

--- Prints a table on stdout (or `file`).
function M.print_table(headers, rows, file)
  (file or io.stdout):write(M.format_table(headers, rows))
end

--- A progress display for `total` steps on stderr: a bar redrawn in place
--- on a terminal, one plain line per step otherwise.
--- Returns an object with :step(label, ok, detail) and :done().
function M.progress(total, opts)
  opts = opts or {}
  local out = opts.file or io.stderr
  local tty = opts.tty
  if tty == nil then tty = M.isatty(2) end
  local p = { done_n = 0, failed = 0, total = total, started = os.time() }
  local width = 30
  function p.step(_, label, ok, detail)
    p.done_n = p.done_n + 1
    if not ok then p.failed = p.failed + 1 end
    if tty then
      local filled = total > 0 and math.floor(width * p.done_n / total) or width
      local line = ("\r[%s%s] %d/%d%s %s"):format(string.rep("#", filled),
        string.rep(".", width - filled), p.done_n, total,
        p.failed > 0 and (" (%d failed)"):format(p.failed) or "", label or "")
      out:write(line:sub(1, 100), "\027[K")
      if not ok and detail then
        out:write("\r\027[K", "failed: ", tostring(label), ": ", one_line(detail), "\n")
      end
    else
      out:write(("[%d/%d] %s %s%s\n"):format(p.done_n, total, tostring(label),
        ok and "ok" or "failed", detail and (": " .. one_line(detail)) or ""))
    end
    out:flush()
  end
  function p.done()
    if tty then out:write("\r\027[K") out:flush() end
  end
  return p
end

return M
