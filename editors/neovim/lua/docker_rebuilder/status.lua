-- The last docker-rebuilder/status of each project, and the statusline text made from it.

local M = {}

---@class docker_rebuilder.Status
---@field project string
---@field state 'idle'|'building'|'succeeded'|'failed'|'down'|'error'|'stopped'
---@field image string
---@field imageId string?
---@field durationMs integer?
---@field errors integer
---@field warnings integer
---@field message string
---@field stage string? in a multi-stage image: the stage whose build failed (vim.NIL if none)
---@field service string? a compose service: its name (vim.NIL if none)
---@field context string? a compose service: its build context folder (vim.NIL if none)
---@field session integer higher for a later session of the project; `stopped` ends the one it names

--- A project's key: its folder and, in a compose folder (which has several), its service.
local function key(s)
  return type(s.service) == 'string' and (s.project .. '\0' .. s.service) or s.project
end

--- The folder whose files a project builds: a compose service's context, else the project's.
local function folder(s)
  return type(s.context) == 'string' and s.context or s.project
end

---@type table<string, docker_rebuilder.Status> by key()
M.projects = {}
---@type table<string, string> the latest progress message, by key(), while building
local progress = {}
local client_project = {} -- client id → key() of its latest status
local owner = {} -- key() → the id of the client whose status it is

---@param client_id integer
---@param params docker_rebuilder.Status
function M.update(client_id, params)
  local k = key(params)
  local known = M.projects[k]
  if known and owner[k] == client_id and (known.session or 0) > (params.session or 0) then
    return -- a late word of a session that has since been replaced
  end
  if params.state == 'stopped' then
    -- No session builds the project any more (a compose service now built with another).
    M.projects[k], progress[k], owner[k] = nil, nil, nil
    if client_project[client_id] == k then
      client_project[client_id] = nil
    end
    M.changed(params)
    return
  end
  M.projects[k] = params
  client_project[client_id] = k
  owner[k] = client_id
  if params.state ~= 'building' then
    progress[k] = nil
  end
  M.changed(params)
end

--- Forgets what a server that has exited said: its statuses are stale (a restarted server
--- reports its own).
---@param client_id integer
function M.forget(client_id)
  for k, id in pairs(owner) do
    if id == client_id then
      M.projects[k], progress[k], owner[k] = nil, nil, nil
    end
  end
  client_project[client_id] = nil
  vim.cmd.redrawstatus({ bang = true })
end

--- A progress report from a client: shown in the statusline while its project builds.
function M.progress(client_id, message)
  local project = client_project[client_id]
  if project and message then
    progress[project] = message
    M.changed(M.projects[project])
  end
end

--- Tells statuslines to redraw and lets users hook in (`User DockerRebuilderStatus`).
function M.changed(params)
  vim.api.nvim_exec_autocmds('User', { pattern = 'DockerRebuilderStatus', data = params, modeline = false })
  vim.cmd.redrawstatus({ bang = true })
end

--- The status of the project that `bufnr` (default: current) is in, else of the only project.
---@return docker_rebuilder.Status?
function M.get(bufnr)
  -- The server names projects by their real path; the buffer's may go through a symlink.
  local name = vim.api.nvim_buf_get_name(bufnr or 0)
  name = vim.uv.fs_realpath(name) or name
  local best
  for _, s in pairs(M.projects) do
    local dir = folder(s)
    local inside = name:sub(1, #dir + 1) == dir .. '/'
    if inside and (not best or #dir > #folder(best)) then
      best = s
    end
  end
  if best then
    return best
  end
  local only, count = nil, 0
  for _, s in pairs(M.projects) do
    only, count = s, count + 1
  end
  return count == 1 and only or nil
end

local function short_id(id)
  return (id or ''):gsub('^sha256:', ''):sub(1, 12)
end

local function duration(ms)
  if not ms then
    return nil
  end
  return ms < 10000 and ('%.1fs'):format(ms / 1000) or ('%ds'):format(math.floor(ms / 1000 + 0.5))
end

--- Statusline text for the current buffer's project; '' outside projects. For example:
--- `%{%v:lua.require'docker_rebuilder'.statusline()%}` in 'statusline'.
function M.statusline(bufnr)
  local s = M.get(bufnr)
  if not s then
    return ''
  end
  if s.state == 'building' then
    local p = progress[key(s)]
    return p and ('⟳ building: ' .. p) or '⟳ building'
  elseif s.state == 'succeeded' then
    local parts = { '✓', duration(s.durationMs), s.imageId and short_id(s.imageId) or nil }
    return table.concat(vim.tbl_filter(function(x) return x ~= nil end, parts), ' ')
  elseif s.state == 'failed' then
    local line = ('✗ build failed: %d error%s, %d warning%s'):format(
      s.errors, s.errors == 1 and '' or 's', s.warnings, s.warnings == 1 and '' or 's')
    -- A multi-stage image: which stage's build failed (its builder has the output).
    if type(s.stage) == 'string' and s.stage ~= '' then
      line = line .. (' (stage %s)'):format(s.stage)
    end
    -- A compose service: which one (the folder builds several).
    if type(s.service) == 'string' then
      line = s.service .. ': ' .. line
    end
    return line
  elseif s.state == 'down' then
    -- The image built, but the compose service's new container exited (how: the message).
    local line = '✗ service down'
    if s.errors > 0 then
      line = line .. (': %d error%s'):format(s.errors, s.errors == 1 and '' or 's')
    end
    return type(s.service) == 'string' and (s.service .. ': ' .. line) or line
  elseif s.state == 'error' then
    return '⚠ docker-rebuilder: ' .. (s.message or 'error')
  end
  return 'docker-rebuilder'
end

return M
