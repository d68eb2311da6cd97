-- Argo CD health check for every clouddb.dev/v1alpha1 kind (ClickHouseService, TidbCloudCluster,
-- TidbCloudImport, TidbCloudIntegration, TidbCloudServerlessCluster, TidbCloudSqlUser, TidbCloudBranch): nothing in it depends on the
-- kind, so a new kind needs only its key.
-- Install it in argocd-cm as resource.customizations.health.clouddb.dev_<Kind>, one key per kind
-- (docs/gitops.md).
--
-- It reads the kstatus-style status the operator writes (status.observedGeneration, conditions Ready,
-- Reconciling, Stalled) the same way kstatus (Flux) does:
--   Suspended=True                              -> Suspended (annotation clouddb.dev/reconcile: paused)
--   Stalled=True (for the current generation)  -> Degraded, with the condition's message
--   metadata.deletionTimestamp set              -> Progressing "Terminating"
--   status.observedGeneration < generation      -> Progressing (the operator has not converged yet)
--   Reconciling=True                            -> Progressing
--   Ready=True                                  -> Healthy
--   no status yet                               -> Progressing
--   otherwise (Ready=False/Unknown, not stalled) -> Progressing, with Ready's message
-- Only the Lua base and table libraries are used (Argo CD does not open the string library).

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    if c.reason ~= nil and c.reason ~= "" then
      return c.reason .. ": " .. c.message
    end
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local hs = {}
local generation = obj.metadata.generation
local suspended = condition("Suspended")
if suspended ~= nil and suspended.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(suspended, "Suspended")
  return hs
end

local stalled = condition("Stalled")
-- A Stalled condition written for an older generation is stale: the new spec has not been tried yet.
if stalled ~= nil and stalled.status == "True"
    and (stalled.observedGeneration == nil or generation == nil or stalled.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Terminating"
  return hs
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  if observed == nil then
    hs.message = "Waiting for the operator to process generation " .. generation
  else
    hs.message = "Generation " .. generation .. " not observed yet (observed " .. observed .. ")"
  end
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  -- Stalled for an older generation while the current one is observed: report it as it stands.
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the Ready condition")
return hs
