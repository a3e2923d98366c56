-- The server's configuration for Neovim 0.11+'s vim.lsp.config / vim.lsp.enable: with this
-- folder on 'runtimepath', `vim.lsp.enable('docker_rebuilder')` is all a user needs.
-- Override any field with vim.lsp.config('docker_rebuilder', { ... }), or call
-- require('docker_rebuilder').setup(opts), which does that for you.

local markers = { 'Dockerfile', 'rebuilder.toml' }
-- A compose project's folder wins over a service's Dockerfile folder below it: the server
-- then knows the service (its image name, its running containers to recreate).
local compose_markers = { 'compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml' }

---@type vim.lsp.Config
return {
  cmd = { 'docker-rebuilder', 'lsp' },
  root_markers = markers,
  -- Any file can end up in an image, so no filetype filter; but a server starts only for a
  -- file inside a project: without a marker above it, on_dir is never called.
  root_dir = function(bufnr, on_dir)
    if vim.bo[bufnr].buftype ~= '' then
      return
    end
    local root = vim.fs.root(bufnr, compose_markers) or vim.fs.root(bufnr, markers)
    if root then
      on_dir(root)
    end
  end,
  handlers = require('docker_rebuilder.handlers'),
  -- The server asks for `dockerRebuilder.compose` per folder (workspace/configuration): the
  -- compose flags the user runs compose with (files, profiles, projectName, envFiles,
  -- projectDirectory). setup({ compose = { ... } }) fills it.
  settings = {},
  -- A server that exited (stopped, restarted or crashed) no longer speaks for its projects.
  on_exit = function(_, _, client_id)
    vim.schedule(function()
      require('docker_rebuilder.status').forget(client_id)
    end)
  end,
}
