-- :checkhealth docker_rebuilder — the binary and its version, the Docker engine, and the
-- current project's configuration, each with what to do when it is wrong.

local M = {}

local health = vim.health
local TIMEOUT = 15000

local function run(cmd, opts)
  local ok, proc = pcall(vim.system, cmd, vim.tbl_extend('force', { text = true }, opts or {}))
  if not ok then
    return { code = -1, stdout = '', stderr = tostring(proc) }
  end
  local result = proc:wait(TIMEOUT)
  if result.signal ~= 0 and result.code ~= 0 and result.stderr == '' then
    result.stderr = 'timed out or killed'
  end
  return result
end

local function first_line(s)
  return (vim.trim(s or '')):match('[^\n]*')
end

local binary = require('docker_rebuilder.binary')

local function check_neovim()
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed (vim.lsp.enable)', { 'Upgrade Neovim.' })
  end
end

---@return string? the binary's path
local function check_binary()
  local path = binary.path()
  if not path then
    health.error(('`%s` was not found'):format(binary.cmd()[1]), binary.INSTALL)
    return nil
  end
  local version = run({ path, '--version' })
  if version.code ~= 0 then
    health.error(('`%s --version` failed: %s'):format(path, first_line(version.stderr)),
      { 'Reinstall docker-rebuilder; the binary at this path does not run.' })
    return nil
  end
  health.ok(('%s (%s)'):format(first_line(version.stdout), path))
  return path
end

local function check_engine()
  if vim.fn.executable('docker') == 1 then
    local info = run({ 'docker', 'info', '--format', '{{.ServerVersion}}' })
    if info.code == 0 then
      local context = run({ 'docker', 'context', 'show' })
      local named = context.code == 0 and (' (docker context ' .. first_line(context.stdout) .. ')') or ''
      health.ok('Docker engine ' .. first_line(info.stdout) .. ' answers' .. named)
    else
      health.error('The Docker engine does not answer: ' .. first_line(info.stderr), {
        'Start it (for example `sudo systemctl start docker`), or pick another (`docker context use`, DOCKER_HOST).',
      })
    end
    return
  end
  health.warn('The docker CLI is not on PATH: :DockerRebuilderShell needs it', { 'Install the docker CLI.' })
  -- Without the CLI, the server's own view of the engine is the best evidence.
  for _, s in pairs(require('docker_rebuilder.status').projects) do
    if s.state == 'error' then
      health.error(('%s: %s'):format(s.project, s.message))
    else
      health.ok(('%s: the server reached the engine (%s)'):format(s.project, s.state))
    end
  end
end

--- The projects to check: those of the running servers, and the one around the cwd. (The
--- current buffer is the health report itself, so it says nothing.)
local function projects()
  local roots, seen = {}, {}
  local function add(root)
    if root and not seen[root] then
      seen[root] = true
      table.insert(roots, root)
    end
  end
  for _, client in ipairs(vim.lsp.get_clients({ name = 'docker_rebuilder' })) do
    add(client.root_dir)
  end
  add(vim.fs.root(vim.fn.getcwd(), {
    'Dockerfile', 'rebuilder.toml', 'compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml',
  }))
  return roots
end

--- Each JSON object `docker-rebuilder status --json` printed (one per compose service).
local function json_lines(text)
  local out = {}
  for line in (text or ''):gmatch('[^\n]+') do
    local ok, value = pcall(vim.json.decode, line)
    if ok and type(value) == 'table' then
      table.insert(out, value)
    end
  end
  return out
end

local function check_project(bin, root)
  if not bin then
    health.warn(root .. ': not checked (no working docker-rebuilder binary)')
    return
  end
  -- `status` loads and checks the whole configuration (Dockerfile, rebuilder.toml,
  -- .dockerignore, a compose file) and exits 2 with the cause and the fix when something is wrong.
  local result = run({ bin, 'status', '--json', root })
  local statuses = json_lines(result.stdout)
  if #statuses == 0 then
    health.error(('%s: `docker-rebuilder status` failed: %s'):format(root, first_line(result.stderr)))
    return
  end
  for _, status in ipairs(statuses) do
    local name = root .. (type(status.service) == 'table' and (' (service ' .. tostring(status.service.name) .. ')') or '')
    if status.error then
      health.error(('%s: %s'):format(name, status.error), { status.fix })
    else
      local rebuild = type(status.rebuild) == 'table' and table.concat(status.rebuild, ' && ') or '?'
      health.ok(('%s: image %s, rebuilt with `%s`'):format(name, tostring(status.image), rebuild))
    end
    -- The engine this project builds on, and why (a context, DOCKER_HOST, the default).
    if type(status.engine) == 'table' then
      health.info(('%s: engine %s, from %s'):format(name, tostring(status.engine.address), tostring(status.engine.from)))
    end
  end
end

function M.check()
  health.start('docker-rebuilder: Neovim')
  check_neovim()
  health.start('docker-rebuilder: server binary')
  local bin = check_binary()
  health.start('docker-rebuilder: Docker engine')
  check_engine()
  health.start('docker-rebuilder: projects')
  local roots = projects()
  if #roots == 0 then
    health.info('No project: no server is running and no Dockerfile or rebuilder.toml is above the current folder.')
  end
  for _, root in ipairs(roots) do
    check_project(bin, root)
  end
end

return M
