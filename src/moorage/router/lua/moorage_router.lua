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
-- Each worker keeps what it read of the table in Lua tables of its own, dropped when the
-- table's version ("v", bumped by every replace) changes. The version is read once per
-- millisecond of nginx's cached clock (updated every event loop turn), so a busy worker
-- routes most requests without touching shared memory; a replace is seen by the next turn.
--
-- Request metrics are counted here too (log_by_lua), so the platform reads a few numbers
-- per app every few seconds instead of parsing a log line per request: "<app>
-- <2xx|3xx|4xx|5xx>" requests, "<app> b<i>" response times (the router's whole request
-- time) in the buckets of moorage.server.background.metrics.BUCKETS, "<app> sum" their
-- total seconds. Each worker adds them up in a table of its own and moves them into the
-- shared dict moorage_stats once a second (a shared-dict write takes a lock shared by all
-- workers). GET /stats on the control socket lists them; counters only grow (until nginx
-- restarts).
--
-- A request enters Lua twice: in the balancer, which routes it (host -> app -> dyno), and
-- in the log phase, which counts it. Every entry costs (measured with callgrind: a third
-- entry that routed before the balancer, and the request ids made here, were 4,000 of the
-- router's 45,000 instructions a request), so the request id comes from nginx itself (see
-- moorage.router.nginx) and a host with no app, or an app with no web dyno up (H10), is
-- sent to one of two small servers of the router's own on unix sockets, which answer 404
-- and 503 with the platform's pages. nginx.conf names the module `moorage` (a global set
-- in init_by_lua): a `require` call per request keeps LuaJIT from compiling the handler.
local balancer = require "ngx.balancer"
local ssl = require "ngx.ssl"

local _M = {}
local routes = ngx.shared.moorage_routes
local stats = ngx.shared.moorage_stats
local BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0 }
local turn = {} -- per worker: the last dyno index each app got
local parsed = {} -- per worker: "c:<host>" -> { raw, cert, key } parsed from the table
local seen = nil -- per worker: the table version `hosts` and `peers_of` were read from
local checked = 0 -- per worker: when (ngx.now(), cached per event loop turn) it was read
local hosts, peers_of = {}, {} -- per worker: host -> app, app -> { { ip, port }, ... }
local pending = {} -- per worker: stats key -> what to add at the next flush
local H10 = 'at=error code=H10 desc="App crashed"'
local not_found, no_dyno -- the router's own 404 and 503 servers (see _M.init)
local floor, now, start_time = math.floor, ngx.now, ngx.req.start_time

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
  routes:incr("v", 1, 0) -- the workers drop what they cached
  for _, key in ipairs(stats:get_keys(0)) do -- the counters of apps that went
    if not tables.a[key:match("^%S+")] then
      stats:delete(key)
    end
  end
  return nil
end

-- log_by_lua: count the request under its app (see the header). A worker's counts of an
-- app are an array: [1..4] requests by class 2xx..5xx, [5..] the buckets, [SUM] seconds.
-- An H10 answer is counted without a response time.
local SUM = 5 + #BUCKETS + 1
function _M.record()
  local app = ngx.var.moorage_app
  if app == nil or app == "-" then
    return
  end
  local status = ngx.status
  local class = floor(status / 100)
  if class < 2 or class > 5 then
    return
  end
  local counts = pending[app]
  if counts == nil then
    counts = {}
    for k = 1, SUM do
      counts[k] = 0
    end
    pending[app] = counts
  end
  counts[class - 1] = counts[class - 1] + 1
  if status == 503 and ngx.var.moorage_at ~= "at=info" then
    return
  end
  local took = now() - start_time()
  local i = #BUCKETS
  for k = 1, #BUCKETS do
    if took <= BUCKETS[k] then
      i = k - 1
      break
    end
  end
  counts[5 + i] = counts[5 + i] + 1
  counts[SUM] = counts[SUM] + took
end

local function name(k) -- the stats key of index k of an app's counts
  if k <= 4 then
    return (k + 1) .. "xx"
  elseif k < SUM then
    return "b" .. (k - 5)
  end
  return "sum"
end

-- A timer's callback, every second in each worker (and once more as the worker exits):
-- move the worker's counts into the shared dict.
function _M.flush()
  local apps = pending
  pending = {}
  for app, counts in pairs(apps) do
    for k = 1, SUM do
      if counts[k] ~= 0 then
        local ok, err = stats:incr(app .. " " .. name(k), counts[k], 0)
        if not ok then
          ngx.log(ngx.ERR, "moorage router: stats of ", app, ": ", err)
        end
      end
    end
  end
end

-- init_worker_by_lua: start the worker's flush timer.
function _M.start()
  local ok, err = ngx.timer.every(1, _M.flush)
  if not ok then
    ngx.log(ngx.ERR, "moorage router: no stats timer: ", err)
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

-- init_by_lua: where the router's own 404 and 503 servers listen, and the table the
-- platform saved last.
function _M.init(root)
  not_found, no_dyno = "unix:" .. root .. "/run/404.sock", "unix:" .. root .. "/run/503.sock"
  local path = root .. "/routes"
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

-- The app's dynos as { { ip, port }, ... }, parsed once per worker and table version.
local function peers(app)
  local found = peers_of[app]
  if found == nil then
    found = {}
    for addr in (routes:get("a:" .. app) or ""):gmatch("%S+") do
      local ip, port = addr:match("^(.+):(%d+)$")
      found[#found + 1] = { ip, tonumber(port) }
    end
    peers_of[app] = found
  end
  return found
end

-- The app `host` belongs to, or nil. The table version is read once per millisecond a
-- worker serves (ngx.now() is cached per event loop turn).
local function route(host)
  local t = now()
  if t ~= checked then
    checked = t
    local version = routes:get("v")
    if version ~= seen then
      hosts, peers_of, seen = {}, {}, version
    end
  end
  local app = hosts[host]
  if app == nil then -- only known hosts are kept: a stranger's names cannot fill memory
    app = routes:get("h:" .. host)
    if not app then
      return nil
    end
    hosts[host] = app
  end
  return app
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

local function set_peer(host, port)
  local ok, err = balancer.set_current_peer(host, port)
  if not ok then
    ngx.log(ngx.ERR, "moorage router: ", err)
    return ngx.exit(ngx.ERROR)
  end
end

-- balancer_by_lua: route the request by its host and pick the dyno, round robin over the
-- app's dynos; a failed try moves to the next dyno (the index is kept in ngx.ctx only for
-- apps with more than one dyno). $moorage_app (the log line, the metrics) is set here; a
-- host with no app goes to the 404 server, an app with no web dyno up to the 503 one (H10).
function _M.balance()
  local app = route(ngx.var.host)
  if app == nil then
    return set_peer(not_found)
  end
  ngx.var.moorage_app = app
  local found = peers(app)
  local n = #found
  local i
  if n == 0 then
    ngx.var.moorage_at = H10
    return set_peer(no_dyno)
  elseif n == 1 then
    i = 1
  elseif balancer.get_last_failure() == nil then -- the first try
    i = (turn[app] or 0) % n + 1
    turn[app] = i
    ngx.ctx.index = i
    balancer.set_more_tries(math.min(n, 3) - 1)
  else
    i = ngx.ctx.index % n + 1
    ngx.ctx.index = i
  end
  return set_peer(found[i][1], found[i][2])
end

return _M
