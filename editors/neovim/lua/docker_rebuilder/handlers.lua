-- What the client does with the server's messages that Neovim does not handle well by itself:
-- the status notification (statusline) and build output (the log buffer). Progress and
-- diagnostics go through Neovim's own LSP handlers.

local status = require('docker_rebuilder.status')
local log = require('docker_rebuilder.log')

return {
  ['docker-rebuilder/status'] = function(_, params, ctx)
    status.update(ctx.client_id, params)
  end,
  -- Build output comes as window/logMessage; Neovim would write it to lsp.log, where nobody
  -- looks. It goes to :DockerRebuilderLog instead.
  ['window/logMessage'] = function(_, params, ctx)
    log.append(ctx.client_id, params)
  end,
}
