-- kubelua: one require gives the data primitives (and, as they land, the client).
local M = {}

M.base64 = require "kubelua.base64"
M.yaml = require "kubelua.yaml"
M.json = require "kubelua.json"
M.version = "0.1.0"

return M
