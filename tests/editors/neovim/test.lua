-- End to end in the real Neovim (0.11+) with the plugin and the real server: introduce a
-- compile error, see it as a diagnostic, fix it, see the image committed, clean the builder
-- with :DockerRebuilderClean. Two cases (CASE): `c`, the example (examples/hello-c), which
-- also opens a shell in the builder and checks :checkhealth; `go`, a multi-stage Go project
-- whose final stage is distroless (tests/fixtures/editors-go): the error names the failed
-- stage, the fix reaches the final image (`docker run` prints the new message), and clean
-- removes the stage's builder. Run by run.sh:
--   nvim --headless -u NONE -l test.lua
-- Environment: PLUGIN_DIR, SERVER, CASE, PROJECT_DIR, PROJECT_IMAGE. Exits 1 on any failure.

local FIRST_BUILD = 600000 -- the first docker build apt-installs gcc: minutes on a cold machine
local CYCLE = 120000

local started = vim.uv.hrtime()
local case = os.getenv('CASE') or 'c'
local function step(text)
  io.stdout:write(('[neovim %s %.1f s] %s\n'):format(case, (vim.uv.hrtime() - started) / 1e9, text))
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

--- The names of the containers labelled with `project` (and `role`, if given).
local function labelled(project, role)
  local args = { 'ps', '-a', '--format', '{{.Names}}', '--filter', 'label=dev.docker-rebuilder.project=' .. project }
  if role then
    vim.list_extend(args, { '--filter', 'label=dev.docker-rebuilder.role=' .. role })
  end
  local r = docker(args)
  check(r.code == 0, 'docker ps: ' .. r.stderr)
  return vim.tbl_filter(function(n) return n ~= '' end, vim.split(vim.trim(r.stdout), '\n'))
end

local plugin_dir, server = env('PLUGIN_DIR'), env('SERVER')
local project, image = env('PROJECT_DIR'), env('PROJECT_IMAGE')

-- What vim.notify said (the commands report through it), kept and printed as a step (headless
-- Neovim would print it without a newline, in the middle of the test's output).
local notified = {}
vim.notify = function(msg)
  table.insert(notified, tostring(msg))
  step('notify: ' .. tostring(msg):gsub('\n', ' | '))
end

local plugin

--- Loads the plugin as a user installs it, opens `file` and waits for the client and the first
--- build. Returns the buffer, the client and a check that the server is still running.
local function start(file, first_build)
  -- As a user installs a plugin: on 'runtimepath', plugin/ sourced (-u NONE skips that).
  vim.opt.runtimepath:prepend(plugin_dir)
  vim.cmd('filetype on')
  vim.cmd.runtime('plugin/docker_rebuilder.lua')
  plugin = require('docker_rebuilder')
  plugin.setup({ path = server })

  step(('opening %s; waiting for the server and the first build'):format(file:sub(#project + 2)))
  vim.cmd.edit(vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client = wait_for('the docker_rebuilder client to attach', 30000, function()
    return vim.lsp.get_clients({ name = 'docker_rebuilder', bufnr = buf })[1]
  end)
  local function alive()
    check(not client:is_stopped(), 'the server exited (see :DockerRebuilderLog / lsp.log)')
  end
  wait_for('the first build to succeed', first_build, function()
    alive()
    local s = plugin.status(buf)
    check(not s or s.state ~= 'error', 'the server reports an error: ' .. (s and s.message or ''))
    return s and s.state == 'succeeded'
  end)
  return buf, client, alive
end

local function stop(client)
  client:stop()
  wait_for('the server to exit', 30000, function()
    return client:is_stopped()
  end)
end

local cases = {}

function cases.c()
  local greet = project .. '/src/greet.c'
  local buf, client, alive = start(greet, FIRST_BUILD)
  local first_id = image_id(image)
  local builder = labelled(project, 'builder')[1]
  check(builder and container_exists(builder), 'no builder container for ' .. project)
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
  check(not failed_line:find('stage', 1, true), 'a single-stage image has no stage to name: ' .. failed_line)
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
  check(report:find(project .. ': engine unix://', 1, true) and report:find('from the default', 1, true),
    'health should name the engine and why it is the one:\n' .. report)
  check(not report:find('ERROR'), 'health reports an error:\n' .. report)
  vim.cmd('tabclose')

  step(':DockerRebuilderRestart (a new server takes over the buffer)')
  vim.cmd('DockerRebuilderRestart')
  client = wait_for('a new server on the buffer', 30000, function()
    local c = vim.lsp.get_clients({ name = 'docker_rebuilder', bufnr = buf })[1]
    return c and c.id ~= client.id and not c:is_stopped() and c
  end)
  wait_for('the new server to find the image up to date', CYCLE, function()
    local s = plugin.status(buf)
    return s and s.state == 'succeeded'
  end)

  step(':DockerRebuild with a slow build, then :DockerRebuilderCancel')
  local makefile = project .. '/Makefile'
  local text = table.concat(vim.fn.readfile(makefile), '\n') .. '\n'
  local link = '\t$(CC) $(CFLAGS) -o $@ $^'
  check(text:find(link, 1, true), 'the example Makefile changed: update this step')
  local slow = text:gsub(vim.pesc(link), function() return '\tsleep 60\n' .. link end, 1)
  vim.fn.writefile(vim.split(slow, '\n', { plain = true }), makefile)
  vim.fn.writefile({ '/* relink */' }, project .. '/src/main.c', 'a')
  vim.cmd('DockerRebuild')
  wait_for('the build to run', CYCLE, function()
    return plugin.status(buf).state == 'building' and next(require('docker_rebuilder.progress').running) ~= nil
  end)
  vim.cmd('DockerRebuilderCancel')
  wait_for('the build to stop', 30000, function()
    return plugin.status(buf).state ~= 'building'
  end)
  local after = plugin.status(buf)
  step(('after the cancel: %s (%s)'):format(after.state, after.message or ''))
  check(tostring(after.message):lower():find('cancel', 1, true), 'the status should say the build was cancelled')
  check(image_id(image) == new_id, 'a cancelled build must not commit the image')

  step(':DockerRebuilderClean (builder ' .. builder .. ')')
  vim.cmd('DockerRebuilderClean')
  wait_for('the builder to be removed', CYCLE, function()
    return not container_exists(builder)
  end)
  check(image_id(image) == new_id, 'clean keeps the image')

  step('statusline in a compose folder: the service whose build context holds the buffer')
  -- Two services' statuses as the server sends them for one compose folder (unit input: the
  -- VS Code workspace case runs this with a real compose project).
  local status = require('docker_rebuilder.status')
  local compose_root = vim.fn.tempname()
  local function service_status(service, state, session)
    return {
      project = compose_root, service = service, context = compose_root .. '/' .. service, state = state,
      image = 'shop_' .. service, errors = state == 'failed' and 1 or 0, warnings = 0, message = '', stage = vim.NIL,
      session = session or (service == 'api' and 1 or 2),
    }
  end
  status.update(-1, service_status('api', 'succeeded'))
  status.update(-1, service_status('worker', 'failed'))
  local api_buf = vim.fn.bufadd(compose_root .. '/api/main.c')
  local worker_buf = vim.fn.bufadd(compose_root .. '/worker/main.go')
  check(plugin.status(api_buf).service == 'api', 'the api file shows the api: ' .. vim.inspect(plugin.status(api_buf)))
  check(vim.startswith(plugin.statusline(api_buf), '✓'), 'statusline on the api file: ' .. plugin.statusline(api_buf))
  check(vim.startswith(plugin.statusline(worker_buf), 'worker: ✗ build failed: 1 error'),
    'statusline on the worker file: ' .. plugin.statusline(worker_buf))
  -- The image built, but the service's new container exited: `down`, not a failed build.
  local down = service_status('worker', 'down')
  down.errors = 1
  status.update(-1, down)
  check(plugin.statusline(worker_buf) == 'worker: ✗ service down: 1 error',
    'statusline on a service whose container died: ' .. plugin.statusline(worker_buf))
  -- The worker's session stopped (the compose file made it the api's twin): its status goes,
  -- and a late word of it is ignored once the api's next session (a higher number) spoke.
  status.update(-1, service_status('worker', 'stopped'))
  local worker_now = plugin.status(worker_buf)
  check(not worker_now or worker_now.service ~= 'worker', 'a stopped session\'s status is dropped: ' .. vim.inspect(worker_now))
  check(not vim.startswith(plugin.statusline(worker_buf), 'worker:'),
    'no statusline of a service no session builds: ' .. plugin.statusline(worker_buf))
  status.update(-1, service_status('api', 'building', 3))
  status.update(-1, service_status('api', 'failed', 1))
  status.update(-1, service_status('api', 'stopped', 1))
  check(plugin.statusline(api_buf) == '⟳ building',
    'the api\'s new session speaks for it, not its old one: ' .. plugin.statusline(api_buf))
  status.forget(-1)
  local after_forget = plugin.status(api_buf)
  check(not after_forget or after_forget.project ~= compose_root, 'an exited server\'s statuses are forgotten')

  stop(client)
end

--- What `docker run --rm IMAGE` prints (the final stage's ENTRYPOINT: the Go program).
local function run_image()
  local r = docker({ 'run', '--rm', image })
  check(r.code == 0, ('docker run --rm %s exited with %d: %s'):format(image, r.code, r.stderr))
  return vim.trim(r.stdout)
end

function cases.go()
  local main_go = project .. '/main.go'
  -- Go stdlib only, toolchain image local: the first build takes seconds, not minutes.
  local buf, client, alive = start(main_go, FIRST_BUILD)
  local first_id = image_id(image)
  -- One builder, for the stage that compiles (`build`); the distroless stage has none.
  local folder = vim.fs.basename(project)
  local expected = ('docker-rebuilder-%s-%s-build'):format(image:gsub(':latest$', ''), vim.fn.sha256(project):sub(1, 10))
  local builders = labelled(project, 'builder')
  check(#builders == 1 and builders[1] == expected,
    ('expected the one builder %s for %s, got: %s'):format(expected, folder, table.concat(builders, ', ')))
  local builder = builders[1]
  check(run_image() == 'hello from v1', 'the first image should print hello from v1')
  step(('first build done: %s, image %s, builder %s'):format(plugin.statusline(buf), image, builder))

  step('breaking line 8 (fmt.Println(message) → fmt.Println(message, nope)) and :write')
  check(vim.api.nvim_buf_get_lines(buf, 7, 8, false)[1] == '\tfmt.Println(message)', 'the fixture main.go changed')
  vim.cmd('normal! 8G$i, nope') -- before the closing parenthesis
  check(vim.api.nvim_buf_get_lines(buf, 7, 8, false)[1] == '\tfmt.Println(message, nope)', 'the edit went wrong')
  vim.cmd('silent write')

  local diagnostic = wait_for('an error diagnostic at line 8 (0-based 7) of main.go', CYCLE, function()
    alive()
    for _, d in ipairs(vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })) do
      if d.lnum == 7 and d.source == 'docker-rebuilder' then
        return d
      end
    end
  end)
  step(('diagnostic: %d:%d %s'):format(diagnostic.lnum, diagnostic.col, diagnostic.message))
  -- go build: ./main.go:8:23: undefined: nope (the tab is one column)
  check(diagnostic.col == 22, 'expected column 22 (0-based), got ' .. diagnostic.col)
  check(diagnostic.message:find('nope', 1, true), 'the message should name nope: ' .. diagnostic.message)
  local failed = wait_for('the status to say failed', CYCLE, function()
    local s = plugin.status(buf)
    return s.state == 'failed' and s
  end)
  local failed_line = plugin.statusline(buf)
  step(('statusline: %s; status: stage %s, message %q'):format(failed_line, tostring(failed.stage), failed.message))
  check(failed.stage == 'build', 'the status should name the failed stage build: ' .. tostring(failed.stage))
  check(vim.startswith(failed.message, 'stage build: '), 'the status message should start with "stage build: ": ' .. failed.message)
  check(failed_line:find('build failed: 1 error', 1, true), 'statusline: ' .. failed_line)
  check(failed_line:find('(stage build)', 1, true), 'the statusline should name the stage: ' .. failed_line)
  check(image_id(image) == first_id, 'a failed build must not commit the image')
  check(table.concat(require('docker_rebuilder.log').lines(), '\n'):find('undefined: nope', 1, true),
    'the build log (:DockerRebuilderLog) should hold the compiler output')

  step('fixing line 8, changing the message to v2 (line 5) and :write')
  vim.cmd('normal! 8G0f,dt)') -- delete ", nope"
  vim.cmd('normal! 5G$F1r2') -- "hello from v1" → "hello from v2"
  check(vim.api.nvim_buf_get_lines(buf, 4, 5, false)[1] == 'const message = "hello from v2"', 'the v2 edit went wrong')
  check(vim.api.nvim_buf_get_lines(buf, 7, 8, false)[1] == '\tfmt.Println(message)', 'the fix went wrong')
  vim.cmd('silent write')
  wait_for('the diagnostics to clear and the status to say succeeded', CYCLE, function()
    alive()
    return #vim.diagnostic.get(buf) == 0 and plugin.status(buf).state == 'succeeded'
  end)
  local ok = plugin.status(buf)
  check(type(ok.stage) ~= 'string', 'a succeeded status names no failed stage: ' .. tostring(ok.stage))
  local new_id = image_id(image)
  check(new_id ~= first_id, 'a clean build must commit a new image')
  local ok_line = plugin.statusline(buf)
  check(ok_line:find(new_id:gsub('^sha256:', ''):sub(1, 12), 1, true), 'statusline should show the new image id: ' .. ok_line)
  local printed = run_image()
  check(printed == 'hello from v2', 'docker run should print hello from v2, got: ' .. printed)
  -- The final stage, not the build stage: distroless config, no Go toolchain inside.
  local inspect = docker({ 'image', 'inspect', '--format', '{{.Config.User}} {{json .Config.Entrypoint}} {{.Size}}', image })
  local user, entrypoint, size = vim.trim(inspect.stdout):match('^(%S+) (%S+) (%d+)$')
  check(user == 'nonroot:nonroot' and entrypoint == '["/app"]', 'the final stage config: ' .. inspect.stdout)
  check(tonumber(size) < 50e6, 'the image should be the distroless stage, not the toolchain: ' .. size .. ' bytes')
  step(('statusline: %s; image %s → %s; docker run: %s'):format(ok_line, first_id:sub(8, 19), new_id:sub(8, 19), printed))

  step(':DockerRebuilderClean (builder ' .. builder .. ')')
  vim.cmd('DockerRebuilderClean')
  wait_for('the builder to be removed', CYCLE, function()
    return not container_exists(builder)
  end)
  wait_for('the clean to be reported', CYCLE, function()
    return vim.iter(notified):any(function(m) return m:find('removed the builder ' .. builder, 1, true) end)
  end)
  local left = labelled(project)
  check(#left == 0, 'containers labelled with the project remain: ' .. table.concat(left, ', '))
  check(image_id(image) == new_id, 'clean keeps the image')

  stop(client)
  step('removing the image ' .. image)
  local rm = docker({ 'image', 'rm', image })
  check(rm.code == 0, 'docker image rm ' .. image .. ': ' .. rm.stderr)
end

local function main()
  local run = cases[case] or fail('unknown CASE ' .. case .. ' (c or go)')
  run()
  step('PASS')
end

local ok, err = pcall(main)
if not ok then
  io.stderr:write(('[neovim %s] FAIL: %s\n'):format(case, type(err) == 'table' and err.message or tostring(err)))
  local s = package.loaded['docker_rebuilder.status'] and require('docker_rebuilder.status').get()
  io.stderr:write(('  status: %s\n'):format(s and vim.inspect(s) or 'none received'))
  os.exit(1)
end
os.exit(0)
