-- Argo CD health check for modelpack.dev/ModelDeployment (Lua 5.1, no standard libraries needed).
-- Install as argocd-cm key resource.customizations.health.modelpack.dev_ModelDeployment
-- (see argocd-cm-patch.yaml). The operator publishes kstatus conditions (src/api/summarize.ts):
--   Ready=True                          -> Healthy      (only for the current metadata.generation)
--   Stalled=True                        -> Degraded     (blocked until someone changes something)
--   Reconciling=True, or a status older
--   than the spec, or no status yet     -> Progressing
-- Messages are "<Reason>: <message>" from the deciding condition.
local hs = { status = "Progressing", message = "Waiting for the operator to reconcile this ModelDeployment" }

local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil then
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  if observed ~= nil then
    hs.message = hs.message .. " (status is for generation " .. tostring(observed) .. ")"
  end
  return hs
end

local ready, stalled, reconciling = nil, nil, nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then
      ready = c
    elseif c.type == "Stalled" then
      stalled = c
    elseif c.type == "Reconciling" then
      reconciling = c
    end
  end
end

-- A condition written for an older generation says nothing about the current spec.
local function current(c)
  return c ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation)
end

if current(stalled) and stalled.status == "True" then
  return { status = "Degraded", message = describe(stalled) }
end
if current(reconciling) and reconciling.status == "True" then
  return { status = "Progressing", message = describe(reconciling) }
end
if current(ready) and ready.status == "True" then
  return { status = "Healthy", message = describe(ready) }
end
if current(ready) then
  hs.message = describe(ready)
end
return hs
