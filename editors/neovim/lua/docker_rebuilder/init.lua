-- docker-rebuilder for Neovim 0.11+: incremental Docker image rebuilds on save, with the
-- compiler's errors as diagnostics. See :help docker_rebuilder.

local M = {}

---@class docker_rebuilder.Opts
---@field path string? the docker-rebuilder binary (default: `docker-rebuilder` on PATH)
---@field args string[]? extra arguments, placed before `lsp`
---@field compose table? the compose flags you run compose with: { files, profiles, projectName, envFiles, projectDirectory }
---@field lsp vim.lsp.Config? anything else for vim.lsp.config (on_attach, capabilities, ...)
---@field enable boolean? call vim.lsp.enable (default true)

--- One call for users who do not configure vim.lsp themselves.
---@param opts docker_rebuilder.Opts?
function M.setup(opts)
  opts = opts or {}
  local config = vim.deepcopy(opts.lsp or {})
  if opts.path or opts.args then
    config.cmd = { opts.path or 'docker-rebuilder' }
    vim.list_extend(config.cmd, opts.args or {})
    table.insert(config.cmd, 'lsp')
  end
  if opts.compose then
    config.settings = vim.tbl_deep_extend('force', config.settings or {}, { dockerRebuilder = { compose = opts.compose } })
  end
  if next(config) then
    vim.lsp.config('docker_rebuilder', config)
  end
  -- plugin/ registers these at startup; again here for setups that skip plugin/ (lazy
  -- loading, `nvim -u NONE`). Both are idempotent.
  require('docker_rebuilder.commands').register()
  require('docker_rebuilder.progress').register()
  require('docker_rebuilder.binary').register()
  if opts.enable ~= false then
    vim.lsp.enable('docker_rebuilder')
  end
end

--- Statusline component: the state of the current buffer's project ('' outside projects).
M.statusline = function(bufnr)
  return require('docker_rebuilder.status').statusline(bufnr)
end

--- The last status the server sent for the current buffer's project (a table, or nil).
M.status = function(bufnr)
  return require('docker_rebuilder.status').get(bufnr)
end

return M
