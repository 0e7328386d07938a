-- The tutorial's setup for many namespaces at once: for each namespace, the
-- namespace, a service account, a binding to a shared ClusterRole and the
-- long-lived token Secret (waited on until filled), optionally a kubeconfig
-- per namespace. Namespaces are handled in parallel; one failing does not
-- stop the others; a second run changes nothing.
--
-- By default each service account is bound with a RoleBinding in its own
-- namespace (its rights stop at the namespace); --cluster-wide uses a
-- ClusterRoleBinding per namespace, as the tutorial does.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/batch.lua (--count N --prefix P | --file F) [options]",
  summary = "Set up a service account with a token in many namespaces, in parallel.",
  description = "--file takes YAML (a list of names, or of {namespace, role, serviceAccount, "
    .. "clusterWide}) or CSV (namespace[,role[,serviceAccount[,clusterWide]]] per line, an "
    .. "optional header line). Roles: tutorial (the tutorial's ClusterRole), read-only, or the "
    .. "name of an existing ClusterRole.",
  options = {
    { "count", type = "int", min = 1, max = 10000, help = "how many namespaces: P-1 .. P-N" },
    { "prefix", metavar = "P", help = "namespace name prefix (with --count)" },
    { "file", short = "f", metavar = "F", help = "a YAML or CSV file of namespaces and roles" },
    { "role", default = "tutorial",
      help = "the default role: tutorial, read-only or a ClusterRole" },
    { "service-account", metavar = "SA", default = "api-service-account",
      help = "the default service account name" },
    { "cluster-wide", type = "boolean",
      help = "bind with ClusterRoleBindings (the tutorial's way) instead of RoleBindings" },
    { "concurrency", short = "c", type = "int", min = 1, max = 256, default = 16,
      help = "namespaces set up at once" },
    { "kubeconfig-dir", metavar = "D", help = "write D/<namespace>.kubeconfig (0600) for each" },
    { "timeout", type = "duration", min = 1, default = 120,
      help = "how long to wait for each token" },
  },
  examples = {
    "kubelua scripts/batch.lua --count 200 --prefix team --kubeconfig-dir ./kubeconfigs",
    "kubelua scripts/batch.lua --file tenants.csv --concurrency 32",
  },
})

local ROLE_MANIFESTS = {
  tutorial = "clusterrole.yaml",
  ["read-only"] = "clusterrole-read-only.yaml",
}

local function bool_of(v, where)
  if v == nil or v == "" then return nil end
  if v == true or v == "true" or v == "yes" then return true end
  if v == false or v == "false" or v == "no" then return false end
  cli.raise(("%s: clusterWide must be true or false, not %q"):format(where, tostring(v)))
end

-- One entry: { namespace, role, service_account, cluster_wide, where };
-- `where` (file:line, file: entry N) prefixes every complaint about it.
local function entry(where, ns, role, sa, cluster_wide)
  local function given(v) return v ~= nil and v ~= "" and v or nil end
  sa = given(sa) or opts["service-account"]
  role = given(role) or opts.role
  cli.try(where, setup.check_namespace_name(ns))
  cli.try(where, setup.check_object_name(sa, "service account"))
  cli.try(where, setup.check_object_name(role, "role"))
  if cluster_wide == nil then cluster_wide = opts["cluster-wide"] or false end
  return { namespace = ns, role = role, service_account = sa, cluster_wide = cluster_wide,
    where = where }
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- namespace[,role[,serviceAccount[,clusterWide]]] per line; # comments,
-- blank lines, a header line and a UTF-8 byte order mark are skipped.
local function read_csv(text, file)
  local list, lineno = {}, 0
  text = text:gsub("^\239\187\191", "")
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = trim(line)
    if line ~= "" and not line:match("^#") then
      local cells = {}
      for cell in (line .. ","):gmatch("([^,]*),") do
        cells[#cells + 1] = trim(cell):gsub('^"(.*)"$', "%1")
      end
      local where = ("%s:%d"):format(file, lineno)
      if #cells > 4 then
        cli.raise(("%s: expected namespace[,role[,serviceAccount[,clusterWide]]], got %d "
          .. "fields"):format(where, #cells))
      end
      local header = lineno == 1 and cells[1]:lower():match("^namespace")
      if not header then
        list[#list + 1] = entry(where, cells[1], cells[2], cells[3], bool_of(cells[4], where))
      end
    end
  end
  return list
end

local FIELDS = { namespace = true, name = true, role = true, serviceAccount = true,
  clusterWide = true }

local function is_list(v)
  return type(v) == "table" and (getmetatable(v) == k8s.json.array_mt or #v > 0)
end

-- A list of names or of {namespace, role, serviceAccount, clusterWide},
-- alone or under a top-level `namespaces:` key.
local function read_yaml(text, file)
  local doc, err = k8s.yaml.decode(text)
  if err then cli.raise(("%s: %s"):format(file, tostring(err))) end
  if type(doc) == "table" and doc.namespaces ~= nil then doc = doc.namespaces end
  if not is_list(doc) then
    cli.raise(("%s: expected a list of namespaces (or {namespaces: [...]})"):format(file))
  end
  local list = {}
  for i, e in ipairs(doc) do
    local where = ("%s: entry %d"):format(file, i)
    if type(e) == "string" then
      list[#list + 1] = entry(where, e)
    elseif type(e) == "table" and not is_list(e) then
      for k in pairs(e) do
        if not FIELDS[k] then
          cli.raise(("%s: unknown field %q (namespace, role, serviceAccount, clusterWide)")
            :format(where, tostring(k)))
        end
      end
      list[#list + 1] = entry(where, e.namespace or e.name, e.role, e.serviceAccount,
        bool_of(e.clusterWide, where))
    else
      cli.raise(("%s: expected a name or a mapping, got %s"):format(where,
        type(e) == "table" and "a list" or tostring(e)))
    end
  end
  return list
end

local function entries()
  if opts.namespace then
    cli.raise("-n does not apply: batch.lua takes its namespaces from --count/--prefix or --file")
  end
  if opts.file and (opts.count or opts.prefix) then
    cli.raise("--file and --count/--prefix: choose one")
  end
  if opts.file then
    local text = cli.check(cli.read_file(opts.file))
    local list = opts.file:lower():match("%.csv$") and read_csv(text, opts.file)
      or read_yaml(text, opts.file)
    local seen = {}
    for _, e in ipairs(list) do
      if seen[e.namespace] then
        cli.raise(("%s: namespace %s is listed twice (also at %s)"):format(e.where, e.namespace,
          seen[e.namespace]))
      end
      seen[e.namespace] = e.where
    end
    if #list == 0 then cli.raise(opts.file .. ": no namespaces") end
    return list
  end
  if not opts.count or not opts.prefix then
    cli.raise("give --count N and --prefix P, or --file F (see --help)")
  end
  local list = {}
  for i = 1, opts.count do
    list[i] = entry("--prefix", ("%s-%d"):format(opts.prefix, i))
  end
  return list
end

-- A role of ours (tutorial, read-only): its traps said, then applied.
local function apply_role(c, file, cluster_wide)
  local role = cli.check(setup.load_manifest(file))[1]
  local binding = cluster_wide and { obj = { kind = "ClusterRoleBinding",
    metadata = { name = "<namespace>-" .. setup.names{}.binding } } } or nil
  for _, w in ipairs(setup.lint({ obj = role, source = file }, binding)) do cli.warn(w) end
  io.stderr:write(cli.check(setup.apply(c, role)), "\n")
end

-- Any other role must exist already.
local function check_role_exists(c, name)
  local _, err = c:get("rbac.authorization.k8s.io/v1", "ClusterRole", name)
  if k8s.errors.is(err, "NotFound") then
    cli.raise(("ClusterRole %q not found (roles: tutorial, read-only, or an existing "
      .. "ClusterRole)"):format(name))
  end
  if err then cli.raise(err) end
end

-- The shared ClusterRoles, each once, before the namespaces.
local function ensure_roles(c, list)
  local done = {}
  for _, e in ipairs(list) do
    if not done[e.role] then
      done[e.role] = true
      local file = ROLE_MANIFESTS[e.role]
      if file then apply_role(c, file, e.cluster_wide) else check_role_exists(c, e.role) end
    end
  end
end

local function role_name(role)
  if not ROLE_MANIFESTS[role] then return role end
  return setup.names{ read_only = role == "read-only" }.cluster_role
end

-- D/<namespace>.kubeconfig with the account's long-lived token.
local function write_kubeconfig(c, e, creds)
  local path = opts["kubeconfig-dir"] .. "/" .. e.namespace .. ".kubeconfig"
  local cfg = setup.kubeconfig{ server = c.server, ca = creds.ca, namespace = e.namespace,
    service_account = e.service_account, token = creds.token }
  cli.check(cli.write_private(path, k8s.yaml.encode(cfg)))
  return path
end

-- Everything for one namespace; returns its summary or raises (k8s.parallel
-- keeps the error for the table and goes on with the others). secrets: the
-- shared watch the token waits use (one watch, not one per namespace).
local function one(c, e, secrets)
  local names = setup.names{ namespace = e.namespace, name = e.service_account }
  names.cluster_role = role_name(e.role)
  if e.cluster_wide then names.binding = e.namespace .. "-" .. names.binding end
  local objs = cli.check(setup.objects(names, { skip_role = true,
    scope = e.cluster_wide and "cluster" or "namespace" }))
  local changed = {}
  for _, o in ipairs(objs) do
    local _, action = cli.check(setup.apply(c, o.obj))
    changed[action == "unchanged" and "unchanged" or action == "created" and "created"
      or "configured"] = true
  end
  local creds = cli.check(setup.wait_token(c, names, opts.timeout, secrets))
  return {
    result = changed.created and "created" or changed.configured and "configured" or "unchanged",
    kubeconfig = opts["kubeconfig-dir"] and write_kubeconfig(c, e, creds) or nil,
    binding = (e.cluster_wide and "clusterrolebinding/" or "rolebinding/") .. names.binding,
  }
end

-- The summary table and line; returns the number of failed namespaces.
local function report(list, results, errs, elapsed)
  local rows, failed, counts = {}, 0, { created = 0, configured = 0, unchanged = 0 }
  for i, e in ipairs(list) do
    local r = results[i]
    if r then
      counts[r.result] = counts[r.result] + 1
    else
      failed = failed + 1
    end
    rows[i] = { e.namespace, e.service_account, role_name(e.role), r and r.binding or "",
      r and r.result or "failed",
      r and (r.kubeconfig or "") or cli.one_line(tostring(errs[i] or "unknown error")) }
  end
  cli.print_table({ "namespace", "service account", "role", "binding", "result",
    opts["kubeconfig-dir"] and "kubeconfig/error" or "error" }, rows)
  io.stdout:write(("%d namespace%s: %d ready (%d created, %d configured, %d unchanged), "
    .. "%d failed, in %.1fs\n"):format(#list, #list == 1 and "" or "s", #list - failed,
    counts.created, counts.configured, counts.unchanged, failed, elapsed))
  return failed
end

local function main()
  local list = entries()
  local c = cli.check(k8s.connect(cli.connect_options(opts)))
  if opts["kubeconfig-dir"] then cli.check(cli.make_private_dir(opts["kubeconfig-dir"])) end
  ensure_roles(c, list)
  local started = k8s.async.now()
  local progress = cli.progress(#list)
  local secrets <close> = #list > 1 and cli.check(setup.token_secrets(c)) or nil
  local results, errs = k8s.parallel(list, function(e) return one(c, e, secrets) end, {
    concurrency = opts.concurrency,
    progress = function(_, _, e, ok) progress:step(e.namespace, ok) end,
  })
  progress:done()
  local failed = report(list, results, errs, k8s.async.now() - started)
  if failed > 0 then
    cli.raise(("%d of %d namespaces failed (see the table above)"):format(failed, #list))
  end
  return 0
end

cli.main(main)
