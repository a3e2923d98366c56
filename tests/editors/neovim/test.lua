-- End to end in the real Neovim (0.11+) with the plugin and the real server: introduce a
-- compile error in the example, see it as a diagnostic, fix it, see the image committed,
-- clean the builder with :DockerRebuilderClean. Run by run.sh:
--   nvim --headless -u NONE -l test.lua
-- Environment: PLUGIN_DIR, SERVER, PROJECT_DIR, PROJECT_IMAGE. Exits 1 on any failure.

local FIRST_BUILD = 600000 -- the first docker build apt-installs gcc: minutes on a cold machine
local CYCLE = 120000

local started = vim.uv.hrtime()
local function step(text)
  io.stdout:write(('[neovim %.1f s] %s\n'):format((vim.uv.hrtime() - started) / 1e9, text))
end

local function fail(message)
  error({ message = message }, 0)
end

local function check(cond, message)
  if not cond then
    fail(message)
  end
end

local function env(name)
  return os.getenv(name) or fail(name .. ' is not set (run this through run.sh)')
end

--- Polls `probe` until it returns a truthy value (returned) or `ms` pass (a failure).
local function wait_for(what, ms, probe)
  local value
  local ok = vim.wait(ms, function()
    value = probe()
    return value
  end, 200)
  if not ok then
    fail(('timed out after %d s waiting for %s'):format(ms / 1000, what))
  end
  return value
end

local function docker(args)
  return vim.system(vim.list_extend({ 'docker' }, args), { text = true }):wait()
end

local function image_id(image)
  local r = docker({ 'image', 'inspect', '--format', '{{.Id}}', image })
  check(r.code == 0, 'docker image inspect ' .. image .. ': ' .. r.stderr)
  return vim.trim(r.stdout)
end

local function container_exists(name)
  return docker({ 'container', 'inspect', name }).code == 0
end

local plugin_dir, server = env('PLUGIN_DIR'), env('SERVER')
local project, image = env('PROJECT_DIR'), env('PROJECT_IMAGE')
local greet = project .. '/src/greet.c'

local function main()
  -- As a user installs a plugin: on 'runtimepath', plugin/ sourced (-u NONE skips that).
  vim.opt.runtimepath:prepend(plugin_dir)
  vim.cmd('filetype on')
  vim.cmd.runtime('plugin/docker_rebuilder.lua')
  local plugin = require('docker_rebuilder')
  plugin.setup({ path = server })

  step('opening src/greet.c; waiting for the server and the first build')
  vim.cmd.edit(vim.fn.fnameescape(greet))
  local buf = vim.api.nvim_get_current_buf()
  local client = wait_for('the docker_rebuilder client to attach', 30000, function()
    return vim.lsp.get_clients({ name = 'docker_rebuilder', bufnr = buf })[1]
  end)
  local function alive()
    check(not client:is_stopped(), 'the server exited (see :DockerRebuilderLog / lsp.log)')
  end
  wait_for('the first build to succeed', FIRST_BUILD, function()
    alive()
    local s = plugin.status(buf)
    check(not s or s.state ~= 'error', 'the server reports an error: ' .. (s and s.message or ''))
    return s and s.state == 'succeeded'
  end)
  local first_id = image_id(image)
  local builders = docker({ 'ps', '-a', '--format', '{{.Names}}', '--filter', 'label=dev.docker-rebuilder.project=' .. project,
    '--filter', 'label=dev.docker-rebuilder.role=builder' })
  local builder = vim.split(vim.trim(builders.stdout), '\n')[1]
  check(builder ~= '' and container_exists(builder), 'no builder container for ' .. project)
  step(('first build done: %s, builder %s'):format(plugin.statusline(buf), builder))

  step('breaking line 7 (name → nme) and :write')
  vim.cmd('normal! 7G029|x') -- column 29 is the `a` of `name`
  check(vim.api.nvim_buf_get_lines(buf, 6, 7, false)[1] == '    printf("Hello, %s!\\n", nme);', 'the edit went wrong')
  vim.cmd("silent write")

  local diagnostic = wait_for('an error diagnostic at line 7 (0-based 6)', CYCLE, function()
    alive()
    for _, d in ipairs(vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })) do
      if d.lnum == 6 and d.source == 'docker-rebuilder' then
        return d
      end
    end
  end)
  step(('diagnostic: %d:%d %s'):format(diagnostic.lnum, diagnostic.col, diagnostic.message))
  check(diagnostic.col == 27, 'expected column 27 (0-based), got ' .. diagnostic.col)
  check(diagnostic.message:find('nme', 1, true), 'the message should name nme: ' .. diagnostic.message)
  wait_for('the status to say failed', CYCLE, function()
    return plugin.status(buf).state == 'failed'
  end)
  local failed_line = plugin.statusline(buf)
  step('statusline: ' .. failed_line)
  check(failed_line:find('build failed: 1 error', 1, true), 'statusline: ' .. failed_line)
  check(image_id(image) == first_id, 'a failed build must not commit the image')
  check(table.concat(require('docker_rebuilder.log').lines(), '\n'):find('nme', 1, true),
    'the build log (:DockerRebuilderLog) should hold the compiler output')

  step('fixing line 7 and :write')
  vim.cmd('normal! 7G028|aa') -- append the `a` back after the `n`
  vim.cmd("silent write")
  wait_for('the diagnostics to clear and the status to say succeeded', CYCLE, function()
    alive()
    return #vim.diagnostic.get(buf) == 0 and plugin.status(buf).state == 'succeeded'
  end)
  local new_id = image_id(image)
  check(new_id ~= first_id, 'a clean build must commit a new image')
  local ok_line = plugin.statusline(buf)
  check(ok_line:find(new_id:gsub('^sha256:', ''):sub(1, 12), 1, true), 'statusline should show the new image id: ' .. ok_line)
  step(('statusline: %s; image %s → %s'):format(ok_line, first_id:sub(8, 19), new_id:sub(8, 19)))

  step(':DockerRebuilderShell (a terminal in the builder)')
  vim.cmd('DockerRebuilderShell')
  local term = wait_for('the terminal', 30000, function()
    return vim.bo.buftype == 'terminal' and vim.b.terminal_job_id
  end)
  local marker = '/tmp/typed-in-neovim'
  vim.fn.chansend(term, 'touch ' .. marker .. '; exit\n')
  wait_for('the shell to run a command in the builder', 30000, function()
    return docker({ 'exec', builder, 'test', '-f', marker }).code == 0
  end)
  vim.cmd('bwipeout!')
  vim.cmd.stopinsert()

  step(':checkhealth docker_rebuilder')
  vim.cmd('checkhealth docker_rebuilder')
  local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  check(report:find('docker%-rebuilder %d+%.%d+'), 'health should show the version:\n' .. report)
  check(report:find(project .. ': image ' .. image, 1, true), 'health should check the project:\n' .. report)
  check(not report:find('ERROR'), 'health reports an error:\n' .. report)
  vim.cmd('tabclose')

  step(':DockerRebuilderClean (builder ' .. builder .. ')')
  vim.cmd('DockerRebuilderClean')
  wait_for('the builder to be removed', CYCLE, function()
    return not container_exists(builder)
  end)
  check(image_id(image) == new_id, 'clean keeps the image')

  client:stop()
  wait_for('the server to exit', 30000, function()
    return client:is_stopped()
  end)
  step('PASS')
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(('[neovim] FAIL: %s\n'):format(type(err) == 'table' and err.message or tostring(err)))
  local s = package.loaded['docker_rebuilder.status'] and require('docker_rebuilder.status').get()
  io.stderr:write(('  status: %s\n'):format(s and vim.inspect(s) or 'none received'))
  os.exit(1)
end
os.exit(0)
