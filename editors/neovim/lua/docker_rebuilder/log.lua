-- The build log: every window/logMessage from the server, in one scratch buffer that
-- :DockerRebuilderLog shows. Bounded, so a chatty build cannot grow it without end.

local M = {}

local MAX_LINES = 10000
local bufnr = nil
local kinds = { [1] = 'ERROR', [2] = 'WARN', [3] = 'INFO', [4] = nil }

local function buffer()
  if bufnr and vim.api.nvim_buf_is_valid(bufnr) then
    return bufnr
  end
  bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(bufnr, 'docker-rebuilder://log')
  vim.bo[bufnr].bufhidden = 'hide'
  vim.bo[bufnr].filetype = 'dockerrebuilderlog'
  return bufnr
end

---@param params { type: integer, message: string }
function M.append(_, params)
  local buf = buffer()
  local lines = vim.split(params.message or '', '\n', { plain = true })
  local kind = kinds[params.type]
  if kind then
    lines[1] = ('[%s] %s'):format(kind, lines[1])
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local empty = count == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
  vim.api.nvim_buf_set_lines(buf, empty and 0 or -1, -1, false, lines)
  count = vim.api.nvim_buf_line_count(buf)
  if count > MAX_LINES then
    vim.api.nvim_buf_set_lines(buf, 0, count - MAX_LINES, false, {})
  end
  -- Windows showing the log follow its end, as a terminal would.
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  end
end

--- The log's lines (for tests and scripts).
function M.lines()
  return vim.api.nvim_buf_get_lines(buffer(), 0, -1, false)
end

--- Shows the log in a split at the bottom (or focuses the window already showing it).
function M.open()
  local buf = buffer()
  local wins = vim.fn.win_findbuf(buf)
  if #wins > 0 then
    vim.api.nvim_set_current_win(wins[1])
  else
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, buf)
  end
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(buf), 0 })
end

return M
