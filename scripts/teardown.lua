-- Removes what scripts/tutorial.lua or scripts/batch.lua created, and waits
-- until namespaces are really gone. Only objects labelled
-- app.kubernetes.io/managed-by=kubelua are removed unless --force is given;
-- the built-in namespaces (default, kube-*) never are.
--
-- Without --prefix: the tutorial's objects (--namespace/--name as given to
-- tutorial.lua). With --prefix P: every namespace P-* and ClusterRoleBinding
-- P-* of batch.lua, then the shared ClusterRoles once nothing binds them.
local k8s = require "kubelua"
local cli = require "kubelua.cli"
local setup = require "kubelua.setup"

local opts = cli.parse(arg, {
  usage = "kubelua scripts/teardown.lua [--prefix P] [--force]",
  summary = "Delete what tutorial.lua (or batch.lua, with --prefix) created.",
  options = {
    { "namespace", short = "n", metavar = "NS", default = "devops-tools",
      help = "the tutorial's namespace" },
    { "name", metavar = "SA", default = "api-service-account",
      help = "the tutorial's service account (as given to tutorial.lua --name)" },
    { "prefix", metavar = "P", help = "remove batch.lua's namespaces P-* instead" },
    { "force", type = "boolean", help = "also remove objects not labelled as created by kubelua" },
    { "concurrency", short = "c", type = "int", min = 1, max = 256, default = 16,
      help = "namespaces deleted at once (with --prefix)" },
    { "timeout", type = "duration", min = 1, default = 300,
      help = "how long to wait for each namespace to be gone" },
  },
})

local RBAC = "rbac.authorization.k8s.io/v1"
local IMMORTAL = { default = true, ["kube-system"] = true, ["kube-public"] = true,
  ["kube-node-lease"] = true }

local tally = { deleted = 0, missing = 0, skipped = 0 }

-- kubectl's words: namespace "x", clusterrole.rbac.authorization.k8s.io "y"
local function kref(api_version, kind, name)
  local g = setup.group_of(api_version)
  return ("%s%s %q"):format(kind:lower(), g ~= "" and ("." .. g) or "", name)
end

-- Deletes an object and waits until it is gone. A namespace that is already
-- Terminating answers a second DELETE with 409 Conflict (a retried request
-- whose first answer was lost, or someone else's delete): then only wait.
-- @return true (deleted), false (it was not there) | nil, err
local function delete_and_wait(c, api_version, kind, name, namespace)
  local ok, err = c:delete(api_version, kind, name, { namespace = namespace,
    wait = true, timeout = opts.timeout, ignore_not_found = true })
  if ok == nil and kind == "Namespace" and k8s.errors.is(err, "Conflict") then
    ok, err = c:wait(api_version, kind, name, { deleted = true, timeout = opts.timeout })
  end
  if ok == nil then return nil, err end
  return ok ~= false
end

-- Deletes one object if it is ours (or --force); prints kubectl's line.
-- quiet: a missing object is not worth counting (an optional extra).
local function remove(c, api_version, kind, name, namespace, quiet)
  local ref = kref(api_version, kind, name)
  local obj, err = c:get(api_version, kind, name, { namespace = namespace })
  if not obj then
    if k8s.errors.is(err, "NotFound") then
      if not quiet then tally.missing = tally.missing + 1 end
      return "missing"
    end
    cli.raise(err)
  end
  if kind == "Namespace" and IMMORTAL[name] then
    cli.warn(("%s kept: it is a built-in namespace"):format(ref))
    tally.skipped = tally.skipped + 1
    return "skipped"
  end
  if not opts.force and not setup.is_managed(obj) then
    cli.warn(("%s kept: not labelled %s (not created by kubelua); use --force to delete it")
      :format(ref, setup.SELECTOR))
    tally.skipped = tally.skipped + 1
    return "skipped"
  end
  local ok, derr = delete_and_wait(c, api_version, kind, name, namespace)
  if ok == nil then cli.raise(derr) end
  tally.deleted = tally.deleted + 1
  io.stdout:write(ref, " deleted\n")
  io.stdout:flush()
  return "deleted"
end

-- The ClusterRoles go when no binding uses them any more (batch.lua's
-- namespaces and the tutorial share them); a missing one is not counted.
local function remove_unused_roles(c, roles)
  local used = {}
  local crbs = cli.check(c:list(RBAC, "ClusterRoleBinding"))
  local rbs = cli.check(c:list(RBAC, "RoleBinding", { all_namespaces = true }))
  for _, set in ipairs({ crbs, rbs }) do
    for _, b in ipairs(set) do
      if b.roleRef.kind == "ClusterRole" and not used[b.roleRef.name] then
        used[b.roleRef.name] = (b.metadata.namespace and (b.metadata.namespace .. "/") or "")
          .. b.metadata.name
      end
    end
  end
  for _, role in ipairs(roles) do
    if used[role] then
      if c:get(RBAC, "ClusterRole", role) then
        cli.warn(("%s kept: still bound by %s"):format(kref(RBAC, "ClusterRole", role), used[role]))
      end
    else
      remove(c, RBAC, "ClusterRole", role, nil, true)
    end
  end
end

local function tutorial(c)
  cli.check(setup.check_namespace_name(opts.namespace))
  local names = setup.names{ namespace = opts.namespace, name = opts.name }
  local ro = setup.names{ namespace = opts.namespace, name = opts.name, read_only = true }
  remove(c, RBAC, "ClusterRoleBinding", names.binding)
  remove_unused_roles(c, { names.cluster_role, ro.cluster_role })
  local ns_state = remove(c, "v1", "Namespace", names.namespace)
  if ns_state ~= "deleted" and ns_state ~= "missing" then
    -- the namespace stays: remove the account and its token one by one
    remove(c, "v1", "Secret", names.secret, names.namespace)
    remove(c, "v1", "ServiceAccount", names.service_account, names.namespace)
  end
end

-- "team-2" before "team-10": numbers compare as numbers
local function natural_less(a, b)
  local function key(s) return (s:gsub("%d+", function(d) return ("%012d"):format(d) end)) end
  return key(a) < key(b)
end

-- The names of the objects of `kind` called P-*: ours (all with --force),
-- and the others, which are said to be kept.
local function with_prefix(c, api_version, kind)
  local ours, kept = {}, {}
  for _, o in ipairs(cli.check(c:list(api_version, kind))) do
    local n = o.metadata.name
    if n:sub(1, #opts.prefix + 1) == opts.prefix .. "-" then
      if opts.force or setup.is_managed(o) then
        ours[#ours + 1] = n
      else
        cli.warn(("%s kept: not labelled %s (not created by kubelua); use --force to delete it")
          :format(kref(api_version, kind, n), setup.SELECTOR))
        tally.skipped = tally.skipped + 1
        kept[#kept + 1] = n
      end
    end
  end
  table.sort(ours, natural_less)
  table.sort(kept, natural_less)
  return ours, kept
end

-- In a namespace that stays (someone else's), what batch.lua made there.
local INSIDE = { { RBAC, "RoleBinding" }, { "v1", "Secret" }, { "v1", "ServiceAccount" } }
local function remove_ours_inside(c, ns)
  for _, k in ipairs(INSIDE) do
    local objs = cli.check(c:list(k[1], k[2], { namespace = ns, label_selector = setup.SELECTOR }))
    for _, o in ipairs(objs) do remove(c, k[1], k[2], o.metadata.name, ns) end
  end
end

local function batch(c)
  local crbs = with_prefix(c, RBAC, "ClusterRoleBinding")
  for _, n in ipairs(crbs) do remove(c, RBAC, "ClusterRoleBinding", n) end
  local namespaces, kept = with_prefix(c, "v1", "Namespace")
  for _, ns in ipairs(kept) do remove_ours_inside(c, ns) end
  local progress = cli.progress(#namespaces)
  local results, errs = k8s.parallel(namespaces, function(ns)
    if IMMORTAL[ns] then return "skipped" end
    local ok, err = delete_and_wait(c, "v1", "Namespace", ns)
    if ok == nil then error(err, 0) end
    return ok and "deleted" or "missing"
  end, { concurrency = opts.concurrency, progress = function(_, _, ns, ok)
    progress:step(ns, ok)
  end })
  progress:done()
  local failed = 0
  for i, ns in ipairs(namespaces) do
    if errs[i] then
      failed = failed + 1
      io.stderr:write(("error: namespace %q: %s\n"):format(ns, cli.message(errs[i])))
    elseif results[i] == "deleted" then
      tally.deleted = tally.deleted + 1
      io.stdout:write(("namespace %q deleted\n"):format(ns))
    elseif results[i] == "missing" then
      tally.missing = tally.missing + 1
    else
      cli.warn(("namespace %q kept: it is a built-in namespace"):format(ns))
      tally.skipped = tally.skipped + 1
    end
  end
  remove_unused_roles(c, { setup.names{}.cluster_role,
    setup.names{ read_only = true }.cluster_role })
  return failed
end

local function main()
  -- -n names the tutorial's namespace, not the client's
  local c = cli.check(k8s.connect(cli.connect_options(opts, { namespace = false })))
  local failed = 0
  if opts.prefix then
    if not setup.check_namespace_name(opts.prefix .. "-1") then
      cli.raise(("invalid --prefix %q: the namespaces P-1, P-2, ... must be lowercase RFC 1123 "
        .. "labels (a-z, 0-9, '-')"):format(opts.prefix))
    end
    failed = batch(c)
  else
    tutorial(c)
  end
  io.stdout:write(("teardown: %d deleted, %d already gone, %d kept\n"):format(tally.deleted,
    tally.missing, tally.skipped))
  if failed > 0 then cli.raise(("%d namespaces could not be deleted"):format(failed)) end
  return 0
end

cli.main(main)
