-- Build progress: Neovim's own LSP progress handling receives the server's work-done
-- progress (vim.lsp.status(), LspProgress); this feeds its messages to our statusline too.

local M = {}

--- The server's running, cancellable progress: key `client_id:token` -> { client_id, token }.
M.running = {}

--- Asks the server to stop every running build (as VS Code's Cancel Build does: the progress's
--- window/workDoneProgress/cancel). False when none runs.
function M.cancel_all()
  local any = false
  for key, run in pairs(M.running) do
    local client = vim.lsp.get_client_by_id(run.client_id)
    if client and not client:is_stopped() then
      client:notify('window/workDoneProgress/cancel', { token = run.token })
      any = true
    end
    M.running[key] = nil
  end
  return any
end

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
      local key = ('%d:%s'):format(client.id, tostring(ev.data.params.token))
      if value.kind == 'begin' and value.cancellable then
        M.running[key] = { client_id = client.id, token = ev.data.params.token }
      elseif value.kind == 'end' then
        M.running[key] = nil
      end
      if value.kind ~= 'end' then
        require('docker_rebuilder.status').progress(client.id, value.message)
      end
    end,
  })
end

return M
