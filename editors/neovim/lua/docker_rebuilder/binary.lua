-- The server binary as configured, and one clear message when it is missing: vim.lsp.enable
-- skips a server whose command is not executable with only a line in lsp.log.

local M = {}

--- The configured server command (vim.lsp.config, setup(), or the default).
---@return string[]
function M.cmd()
  local config = vim.lsp.config and vim.lsp.config.docker_rebuilder
  local cmd = config and config.cmd
  return type(cmd) == 'table' and cmd or { 'docker-rebuilder', 'lsp' }
end

--- The binary's full path, or nil when it is not an executable on PATH (or at the path given).
function M.path()
  local path = vim.fn.exepath(M.cmd()[1])
  return path ~= '' and path or nil
end

M.INSTALL = {
  'Install it from a docker-rebuilder checkout: `cargo install --path server` (puts it in ~/.cargo/bin, which must be on PATH).',
  "Or point the plugin at it: require('docker_rebuilder').setup({ path = '/path/to/docker-rebuilder' }).",
}

--- Once per session, when a file in a project is opened while the server is enabled but its
--- binary is missing: says so, and how to fix it.
function M.register()
  local group = vim.api.nvim_create_augroup('docker_rebuilder_binary', { clear = true })
  vim.api.nvim_create_autocmd('BufReadPost', {
    group = group,
    callback = function(ev)
      local enabled = not vim.lsp.is_enabled or vim.lsp.is_enabled('docker_rebuilder')
      if not enabled or vim.bo[ev.buf].buftype ~= '' or not vim.fs.root(ev.buf, { 'Dockerfile', 'rebuilder.toml' }) then
        return
      end
      vim.api.nvim_del_augroup_by_id(group)
      if not M.path() then
        vim.notify(('docker-rebuilder: `%s` was not found, so this project gets no rebuilds.\n%s\nSee :checkhealth docker_rebuilder.')
          :format(M.cmd()[1], table.concat(M.INSTALL, '\n')), vim.log.levels.ERROR)
      end
    end,
  })
end

return M
