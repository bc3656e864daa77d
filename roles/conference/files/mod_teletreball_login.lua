-- Prosody module of the role conference (teletreball): who may try to log in to
-- the staff's host, and how often.
--
-- Loaded on the staff's VirtualHost only. Every way in (XMPP on 5222, the web
-- chat's websocket and BOSH behind nginx) reaches SASL, where this module:
--
--   * refuses an attempt from an address outside teletreball_login_networks
--     (CIDR list; absent = anywhere). For the websocket and BOSH the address
--     is the client's, from nginx's X-Forwarded-For, which Prosody trusts from
--     the loopback only (trusted_proxies);
--   * refuses attempts from an address that failed teletreball_login_max_failures
--     times within teletreball_login_failure_window seconds, until that window
--     has passed since its first failure (temporary-auth-failure);
--   * logs every failed login with the account and the source address, every
--     refused attempt with the reason, and every login with its address.
--
-- Messages (prosody.log, level warn for failures and refusals):
--   teletreball-login: failed login of <user> from <address> (<condition>)
--   teletreball-login: refused an attempt from <address>: <reason>

local ip = require "prosody.util.ip";

local networks = module:get_option_array("teletreball_login_networks", nil);
local max_failures = module:get_option_integer("teletreball_login_max_failures", 5, 1);
local window = module:get_option_period("teletreball_login_failure_window", 300);

local allowed = nil;
if networks then
	allowed = {};
	for _, cidr in ipairs(networks) do
		local net, bits = ip.parse_cidr(cidr);
		if not net then
			error("teletreball_login_networks: '"..tostring(cidr).."' is not a network");
		end
		table.insert(allowed, { net = net, bits = bits });
	end
end

-- address -> { count = failures, first = time of the first in the window }
local failures = {};

local function in_networks(address)
	if allowed == nil then return true; end
	local parsed = address and ip.new_ip(address);
	if not parsed then return false; end
	for _, network in ipairs(allowed) do
		if ip.match(parsed, network.net, network.bits) then return true; end
	end
	return false;
end

local function current_failures(address, now)
	local entry = failures[address];
	if entry and now - entry.first >= window then
		failures[address] = nil;
		return nil;
	end
	return entry;
end

local function refuse(event, address, condition, reason)
	module:log("warn", "teletreball-login: refused an attempt from %s: %s", tostring(address), reason);
	event.allowed = false;
	event.error_condition = condition;
	event.error_text = reason;
end

module:hook("authentication-attempt", function(event)
	local address = event.origin.ip;
	if not in_networks(address) then
		return refuse(event, address, "not-authorized",
			"staff log in through the council's VPN only");
	end
	local entry = current_failures(address, os.time());
	if entry and entry.count >= max_failures then
		return refuse(event, address, "temporary-auth-failure",
			("%d failed logins in the last %d s; try again later"):format(entry.count, window));
	end
end, 10);

module:hook("authentication-failure", function(event)
	local session = event.session;
	local address = session.ip;
	local now = os.time();
	local handler = session.sasl_handler;
	local entry = current_failures(address, now) or { count = 0, first = now };
	entry.count = entry.count + 1;
	failures[address] = entry;
	module:log("warn", "teletreball-login: failed login of %s from %s (%s)",
		tostring(handler and handler.username or "?"), tostring(address), tostring(event.condition));
end);

module:hook("authentication-success", function(event)
	local session = event.session;
	failures[session.ip] = nil;
	module:log("info", "teletreball-login: login of %s from %s", tostring(session.username),
		tostring(session.ip));
end);

-- Forget what no longer counts, every minute, so the table stays small.
module:add_timer(60, function(now)
	for address, entry in pairs(failures) do
		if now - entry.first >= window then failures[address] = nil; end
	end
	return 60;
end);
