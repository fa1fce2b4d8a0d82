-- Argo CD health check of the azureml.dev kinds (Workspace, ComputeCluster, ComputeInstance,
-- AttachedCompute, InferenceCluster): all five report kstatus-style conditions (Ready,
-- Reconciling, Stalled) with observedGeneration, and the computes Azure's provisioningState.
--   Degraded     Stalled=True (needs a person: quota, immutable change, credentials, name taken)
--                or Azure's provisioningState is Failed
--   Healthy      Ready=True, computed for the current metadata.generation
--   Progressing  anything else: no status yet, Reconciling=True, Ready for an older generation,
--                Ready=False while the operator retries
-- argocd-cm.yaml carries this script under resource.customizations.health.azureml.dev_<Kind>.
local hs = {}
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

local function condition(status, type)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    if text ~= "" then
      text = text .. ": "
    end
    text = text .. c.message
  end
  if text == "" then
    return fallback
  end
  return text
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local ready = condition(status, "Ready")
local reconciling = condition(status, "Reconciling")
local stalled = condition(status, "Stalled")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end
if status.provisioningState == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Azure reports provisioningState Failed")
  return hs
end

local observed = status.observedGeneration
if ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= 0 then
  observed = ready.observedGeneration
end
local current = generation == nil or observed == generation

if ready ~= nil and ready.status == "True" and current then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
if not current then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
elseif reconciling ~= nil and reconciling.status == "True" then
  hs.message = describe(reconciling, "Reconciling")
else
  hs.message = describe(ready, "Waiting for Ready")
end
return hs
