-- Moorage's routing tables inside nginx: host name -> app, app -> web dyno addresses.
--
-- The platform replaces the whole table through the control socket (PUT /routes) or, when
-- nginx (re)starts, from the file it keeps next to nginx.conf. A deploy therefore never
-- reloads nginx: a reload makes the old workers close every keep-alive client connection
-- after its current response, and a client that sends its next request at that moment gets
-- a reset. Table format, one entry per line:
--   host <host name> <app>
--   app <app> [<ip>:<port> ...]      (no address: the app has no web dyno up, H10)
--   cert <host name> <base64 PEM chain> <base64 PEM key>   (a custom certificate)
-- The table holds private keys: its file is root's, read by the master at start, and the
-- control socket answers root only.
--
-- Request metrics are counted here too (log_by_lua, shared dict moorage_stats), so the
-- platform reads a few numbers per app every few seconds instead of parsing a log line per
-- request: "<app> <2xx|3xx|4xx|5xx>" requests, "<app> b<i>" response times in the buckets
-- of moorage.server.metrics.BUCKETS, "<app> sum" their total seconds. GET /stats on the
-- control socket lists them; counters only grow (until nginx restarts).
local balancer = require "ngx.balancer"
local ssl = require "ngx.ssl"

local _M = {}
local routes = ngx.shared.moorage_routes
local stats = ngx.shared.moorage_stats
local BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0 }
local turn = {} -- per worker: the last dyno index each app got
local parsed = {} -- per worker: "c:<host>" -> { raw, cert, key } parsed from the table

local function parse(text)
  local tables = { h = {}, a = {}, c = {} }
  for line in text:gmatch("[^\n]+") do
    local kind, name, rest = line:match("^(%a+) (%S+) ?(.*)$")
    if kind == "host" and rest ~= "" then
      tables.h[name] = rest
    elseif kind == "app" then
      tables.a[name] = rest
    elseif kind == "cert" and rest:match("^%S+ %S+$") then
      tables.c[name] = rest
    elseif kind == "cert" then
      return nil, "bad cert line for " .. name -- never echo a key into the error log
    elseif kind ~= nil or line:match("%S") then
      return nil, "bad routes line: " .. line
    end
  end
  return tables, nil
end

-- Replace the tables with `text`; every key changes atomically, stale keys go last.
function _M.replace(text)
  local tables, err = parse(text)
  if err then
    return err
  end
  for _, kind in ipairs({ "c", "a", "h" }) do
    for name, value in pairs(tables[kind]) do
      local ok, set_err = routes:set(kind .. ":" .. name, value)
      if not ok then
        return kind .. ":" .. name .. ": " .. set_err
      end
    end
  end
  for _, key in ipairs(routes:get_keys(0)) do
    local entries = tables[key:sub(1, 1)]
    if entries and not entries[key:sub(3)] then
      routes:delete(key)
    end
  end
  for _, key in ipairs(stats:get_keys(0)) do -- the counters of apps that went
    if not tables.a[key:match("^%S+")] then
      stats:delete(key)
    end
  end
  return nil
end

-- log_by_lua: count the request under its app (see the header).
function _M.record()
  local app = ngx.var.moorage_app
  if app == nil or app == "-" then
    return
  end
  local class = math.floor(ngx.status / 100)
  if class < 2 or class > 5 then
    return
  end
  stats:incr(app .. " " .. class .. "xx", 1, 0)
  local took, tried = 0, false
  for v in (ngx.var.upstream_response_time or ""):gmatch("[%d.]+") do -- "0.001, 0.004"
    took, tried = took + (tonumber(v) or 0), true
  end
  if tried then
    local i = #BUCKETS
    for k = 1, #BUCKETS do
      if took <= BUCKETS[k] then
        i = k - 1
        break
      end
    end
    stats:incr(app .. " b" .. i, 1, 0)
    stats:incr(app .. " sum", took, 0)
  end
end

-- content_by_lua on the control socket: GET /stats, one "<app> <counter> <value>" a line.
function _M.serve_stats()
  local out = {}
  for _, key in ipairs(stats:get_keys(0)) do
    local value = stats:get(key)
    if value then
      out[#out + 1] = key .. " " .. value
    end
  end
  ngx.print(table.concat(out, "\n"), "\n")
end

-- init_by_lua: load the table the platform saved last.
function _M.load(path)
  local file = io.open(path, "r")
  if not file then
    return
  end
  local text = file:read("*a")
  file:close()
  local err = _M.replace(text)
  if err then
    ngx.log(ngx.ERR, "moorage router: ", path, ": ", err)
  end
end

-- content_by_lua on the control socket: PUT /routes with the whole table as the body.
function _M.serve_replace()
  if ngx.req.get_method() ~= "PUT" then
    ngx.status = 405
    return ngx.say("use PUT")
  end
  ngx.req.read_body()
  local err = _M.replace(ngx.req.get_body_data() or "")
  if err then
    ngx.status = 400
    return ngx.say(err)
  end
  ngx.say("ok")
end

-- access_by_lua: which app the host belongs to, and its dynos; 404 or H10 otherwise.
function _M.route()
  local app = routes:get("h:" .. ngx.var.host)
  if not app then
    return ngx.exit(404)
  end
  ngx.var.moorage_app = app
  local backends = routes:get("a:" .. app)
  local peers = {}
  for addr in (backends or ""):gmatch("%S+") do
    local ip, port = addr:match("^(.+):(%d+)$")
    peers[#peers + 1] = { ip, tonumber(port) }
  end
  if #peers == 0 then
    ngx.var.moorage_at = 'at=error code=H10 desc="App crashed"'
    return ngx.exit(503)
  end
  ngx.ctx.app, ngx.ctx.peers = app, peers
end

-- ssl_certificate_by_lua: a custom certificate for the requested host (SNI), exact name
-- first, then a wildcard domain; otherwise the edge certificate nginx.conf names.
function _M.certificate()
  local name = ssl.server_name()
  if not name then
    return
  end
  name = name:lower()
  local key = "c:" .. name
  local raw = routes:get(key)
  if not raw then
    local parent = name:match("^[^.]+%.(.+)$")
    if parent then
      key = "c:*." .. parent
      raw = routes:get(key)
    end
  end
  if not raw then
    return
  end
  local hit = parsed[key]
  if not hit or hit.raw ~= raw then
    local chain64, key64 = raw:match("^(%S+) (%S+)$")
    local cert, err = ssl.parse_pem_cert(ngx.decode_base64(chain64) or "")
    local pkey, key_err = ssl.parse_pem_priv_key(ngx.decode_base64(key64) or "")
    if not cert or not pkey then
      ngx.log(ngx.ERR, "moorage router: certificate of ", name, ": ", err or key_err)
      return
    end
    hit = { raw = raw, cert = cert, key = pkey }
    parsed[key] = hit
  end
  local ok, err = ssl.clear_certs()
  if ok then
    ok, err = ssl.set_cert(hit.cert)
  end
  if ok then
    ok, err = ssl.set_priv_key(hit.key)
  end
  if not ok then
    ngx.log(ngx.ERR, "moorage router: certificate of ", name, ": ", err)
    return ngx.exit(ngx.ERROR)
  end
end

-- balancer_by_lua: round robin over the app's dynos; a failed try moves to the next dyno.
function _M.balance()
  local ctx = ngx.ctx
  local peers = ctx.peers
  local i = ctx.index
  if i == nil then
    i = (turn[ctx.app] or 0) % #peers + 1
    turn[ctx.app] = i
    if #peers > 1 then
      balancer.set_more_tries(math.min(#peers, 3) - 1)
    end
  else
    i = i % #peers + 1
  end
  ctx.index = i
  local ok, err = balancer.set_current_peer(peers[i][1], peers[i][2])
  if not ok then
    ngx.log(ngx.ERR, "moorage router: ", err)
    return ngx.exit(502)
  end
end

return _M
