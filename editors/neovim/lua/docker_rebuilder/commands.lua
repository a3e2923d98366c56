-- The user commands. Those the server owns become workspace/executeCommand requests for the
-- current buffer's project; the log and the shell are the editor's.

local log = require('docker_rebuilder.log')

local M = {}

local NAME = 'docker_rebuilder'

local function notify(msg, level)
  vim.notify('docker-rebuilder: ' .. msg, level or vim.log.levels.INFO)
end

--- The client for the current buffer's project: the one attached to it, else the only one.
---@param callback fun(client: vim.lsp.Client)
local function with_client(callback)
  local attached = vim.lsp.get_clients({ name = NAME, bufnr = 0 })
  if #attached > 0 then
    return callback(attached[1])
  end
  local all = vim.lsp.get_clients({ name = NAME })
  if #all == 1 then
    return callback(all[1])
  elseif #all == 0 then
    return notify('no server is running: open a file in a folder with a Dockerfile or rebuilder.toml '
      .. '(and see :checkhealth docker_rebuilder)', vim.log.levels.ERROR)
  end
  vim.ui.select(all, {
    prompt = 'Which project?',
    format_item = function(c) return c.root_dir or c.name end,
  }, function(choice)
    if choice then
      callback(choice)
    end
  end)
end

--- The project argument: the current file if the client serves it, else the client's root.
local function project_uri(client)
  local name = vim.api.nvim_buf_get_name(0)
  if name ~= '' and vim.bo.buftype == '' and vim.lsp.buf_is_attached(0, client.id) then
    return vim.uri_from_fname(name)
  end
  return vim.uri_from_fname(client.root_dir)
end

--- Runs a server command for the current project; `on_result` gets the result on success.
---@param command string
---@param on_result fun(result: table, client: vim.lsp.Client)?
function M.execute(command, on_result)
  with_client(function(client)
    local params = { command = command, arguments = { project_uri(client) } }
    client:request('workspace/executeCommand', params, function(err, result)
      if err then
        notify(err.message, vim.log.levels.ERROR)
      elseif on_result then
        on_result(result or {}, client)
      end
    end, 0)
  end)
end

function M.rebuild(full)
  M.execute(full and 'docker-rebuilder.fullBuild' or 'docker-rebuilder.rebuild', function(result)
    -- Diagnostics and the statusline follow the cycle; only a failure needs a word here.
    if result.state == 'failed' then
      notify(result.message .. ' (:DockerRebuilderLog shows the output)', vim.log.levels.WARN)
    end
  end)
end

function M.clean()
  M.execute('docker-rebuilder.clean', function(result)
    local what = result.builderRemoved ~= vim.NIL and result.builderRemoved
      and ('removed the builder ' .. result.builderRemoved) or 'there was no builder to remove'
    local images = #(result.imagesRemoved or {})
    notify(what .. (images > 0 and (' and %d old image(s)'):format(images) or '') .. '; the image stays')
  end)
end

local function field(v)
  return (v == nil or v == vim.NIL) and '-' or tostring(v)
end

function M.status()
  M.execute('docker-rebuilder.status', function(s)
    notify(table.concat({
      ('%s: %s'):format(field(s.project), field(s.state)),
      ('image %s (%s)'):format(field(s.image), field(s.imageId)),
      ('builder %s'):format(field(s.builder)),
      ('%s error(s), %s warning(s)%s'):format(field(s.errors), field(s.warnings),
        s.durationMs ~= vim.NIL and s.durationMs and (', last cycle %d ms'):format(s.durationMs) or ''),
      s.message ~= '' and field(s.message) or nil,
    }, '\n'))
  end)
end

--- A terminal in the builder container. The editor may use the docker CLI (the user's tool);
--- the server never does.
function M.shell()
  M.execute('docker-rebuilder.status', function(s)
    if vim.fn.executable('docker') == 0 then
      return notify('the docker CLI is not on PATH; it is needed for a shell in the builder', vim.log.levels.ERROR)
    end
    vim.cmd('botright split')
    vim.cmd.enew()
    vim.fn.jobstart({ 'docker', 'exec', '-it', s.builder, '/bin/sh' }, { term = true })
    vim.cmd.startinsert()
  end)
end

--- Stops the running build (nothing is committed; the builder stays).
function M.cancel()
  if not require('docker_rebuilder.progress').cancel_all() then
    notify('no build is running')
  end
end

--- Restarts the server: each client stopped, then started again on the buffers it had.
function M.restart()
  local clients = vim.lsp.get_clients({ name = 'docker_rebuilder' })
  if #clients == 0 then
    return notify('no server is running: open a file of a project to start one', vim.log.levels.WARN)
  end
  for _, client in ipairs(clients) do
    local config, buffers = client.config, vim.tbl_keys(client.attached_buffers)
    client:stop()
    vim.wait(10000, function()
      return client:is_stopped()
    end, 50)
    require('docker_rebuilder.status').forget(client.id)
    for _, buf in ipairs(buffers) do
      if vim.api.nvim_buf_is_valid(buf) then
        vim.lsp.start(config, { bufnr = buf })
      end
    end
  end
  notify('server restarted')
end

function M.register()
  local create = vim.api.nvim_create_user_command
  create('DockerRebuilderCancel', M.cancel, { desc = 'docker-rebuilder: stop the running build' })
  create('DockerRebuilderRestart', M.restart, { desc = 'docker-rebuilder: restart the server' })
  create('DockerRebuild', function() M.rebuild(false) end, { desc = 'docker-rebuilder: sync and rebuild now' })
  create('DockerRebuildFull', function() M.rebuild(true) end, { desc = 'docker-rebuilder: full docker build' })
  create('DockerRebuilderClean', M.clean, { desc = 'docker-rebuilder: remove the builder container' })
  create('DockerRebuilderStatus', M.status, { desc = 'docker-rebuilder: show the project status' })
  create('DockerRebuilderLog', log.open, { desc = 'docker-rebuilder: show the build log' })
  create('DockerRebuilderShell', M.shell, { desc = 'docker-rebuilder: a shell in the builder' })
end

return M
