-- Build progress: Neovim's own LSP progress handling receives the server's work-done
-- progress (vim.lsp.status(), LspProgress); this feeds its messages to our statusline too.

local M = {}

function M.register()
  local group = vim.api.nvim_create_augroup('docker_rebuilder_progress', { clear = true })
  vim.api.nvim_create_autocmd('LspProgress', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if not client or client.name ~= 'docker_rebuilder' then
        return
      end
      local value = ev.data.params.value or {}
      if value.kind ~= 'end' then
        require('docker_rebuilder.status').progress(client.id, value.message)
      end
    end,
  })
end

return M
