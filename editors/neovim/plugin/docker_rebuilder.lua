-- Loaded at startup from 'runtimepath': the user commands, the progress hook and the
-- missing-binary warning, so that users of plain `vim.lsp.enable('docker_rebuilder')` get
-- them too. Cheap: a few small modules load; no server starts until a project file opens.
if vim.g.loaded_docker_rebuilder then
  return
end
vim.g.loaded_docker_rebuilder = true

require('docker_rebuilder.commands').register()
require('docker_rebuilder.progress').register()
require('docker_rebuilder.binary').register()
