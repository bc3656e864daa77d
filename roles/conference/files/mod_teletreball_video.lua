-- Prosody module of the role conference (teletreball): the keys to the video
-- rooms (Janus, VideoRoom plugin, with signed-token authentication).
--
-- Loaded on the staff's VirtualHost only. Every members-only chat room
-- <name>@teletreball_video_muc named in teletreball_video_rooms has a Janus room
-- whose string id is <name> and that requires signed tokens. Janus checks a token
-- "<data>:<signature>", data being "<expiry>,<realm>,<descriptor>..." (expiry in
-- Unix seconds) and the signature the base64 (standard, padded) of
-- HMAC-SHA1(teletreball_video_secret, data). This module hands out two:
--
--   core token  <expiry>,janus,janus.plugin.videoroom          (every request)
--   room token  <expiry>,janus.plugin.videoroom,room=<name>    (joining the room)
--
-- with STUN/TURN servers for the browser (Prosody's own external_services and
-- external_service_secret: TURN REST credentials, as mod_external_services makes
-- them, that expire with the core token at the latest; a turn or turns service
-- without credentials is left out, browsers refuse it). The room token expires
-- teletreball_video_join_lifetime after it is made, or with the core token.
--
-- To the people of this host (namespace urn:teletreball:video:0):
--
--   <iq type='get'><video xmlns=... room='<name>@<muc host>'/></iq>
--     -> <video room='<name>' server='<websocket URL>' expires='<core expiry>'>
--          <token>core</token><room-token>room</room-token>
--          <ice urls='turn:...' username='...' credential='...'/>...</video>
--   <iq type='set'><invite xmlns=... room='<name>@<muc host>' seconds='N'/></iq>
--     -> <invite url='<teletreball_video_invite_url>?invite=<code>' expires='<unix>'/>
--
-- Only an authenticated client of this host may ask (anything else: forbidden),
-- and only for a room of teletreball_video_rooms that exists, is members-only and
-- has them as owner, admin or member. Every other refusal about a room is the
-- same item-not-found, whether the room does not exist, has no video or is not
-- theirs: nobody learns from it which hidden rooms exist or have video.
-- Invitations are off (feature-not-implemented) without
-- teletreball_video_invite_secret and teletreball_video_invite_url. N (a whole
-- number, else bad-request) is clamped to 60..teletreball_video_invite_max
-- seconds. A request without a room is a bad-request. Without
-- teletreball_video_secret, teletreball_video_muc or teletreball_video_server the
-- module logs an error and refuses everything: service-unavailable, HTTP 503.
--
-- An invitation code (URL-safe: letters, digits, '-', '_' and '.') is
--
--   1.<room name, base64url>.<expiry>.<inviter>.<mac, base64url>
--
-- where <inviter> is the first 9 bytes (base64url) of HMAC-SHA256 of the
-- inviter's bare JID under a key derived from the invitation secret (the same
-- person gives the same tag, which is logged with their JID when they invite, but
-- the code does not tell who they are), and <mac> is HMAC-SHA256 of everything
-- before its dot under another key derived from that secret. Codes cannot be
-- revoked one by one: changing teletreball_video_invite_secret voids them all.
--
-- A guest redeems a code over HTTP, at mod_http's path for this module
-- (/teletreball_video unless http_paths says otherwise):
--
--   POST /teletreball_video/invite  {"invite": "<code>"}
--     200 {"room", "server", "token", "room_token", "expires", "ice": [{"urls",
--          "username", "credential"}], "guest": true}
--     403 {"error": "invalid invitation"}   (whatever check failed)
--     413 a body over 4 KiB, 429 an address with too many refused attempts
--
-- A code is valid while it is unexpired, its expiry is no further away than
-- teletreball_video_invite_max and its room still has video. The guest's core
-- token expires with the invitation, or after teletreball_video_session_lifetime
-- if that comes first. An address that was refused
-- teletreball_video_redeem_max_failures times within
-- teletreball_video_redeem_failure_window seconds gets 429 until that window has
-- passed since its first refusal; a valid code does not reset the count.
--
-- Messages (prosody.log; warn for every refusal, with the reason):
--   teletreball-video: token for <bare jid> in <room jid>
--   teletreball-video: invitation <tag> by <bare jid> to <room jid> until <expiry>
--   teletreball-video: guest token in <room jid> for <address> (invitation <tag>)
--   teletreball-video: refused <a token|an invitation> of <who> for <room>: <reason>
--   teletreball-video: refused an invitation from <address>: <reason>   (HTTP)

local st = require "prosody.util.stanza";
local jid = require "prosody.util.jid";
local json = require "prosody.util.json";
local array = require "prosody.util.array";
local hashes = require "prosody.util.hashes";
local base64 = require "prosody.util.encodings".base64;

local XMLNS = "urn:teletreball:video:0";
-- The role's room names (preflight_inventory): nothing Janus's token parser
-- splits on (',' and ':').
local ROOM_PATTERN = "^[a-z0-9][a-z0-9_.-]*$";
local ROOM_NAME_MAX = 63;
local INVITE_MIN = 60;
local BODY_MAX = 4096;
local MEMBER_AFFILIATIONS = { owner = true, admin = true, member = true };
local NOT_FOUND_TEXT = "No video room of that name for you";
local INVALID_INVITATION = "invalid invitation";

local secret = module:get_option_string("teletreball_video_secret");
local muc_host = module:get_option_string("teletreball_video_muc");
local room_names = module:get_option_array("teletreball_video_rooms", {});
local server = module:get_option_string("teletreball_video_server");
local session_lifetime = module:get_option_period("teletreball_video_session_lifetime", 36000);
local join_lifetime = module:get_option_period("teletreball_video_join_lifetime", 120);
local invite_max = module:get_option_period("teletreball_video_invite_max", 86400);
local invite_secret = module:get_option_string("teletreball_video_invite_secret");
local invite_url = module:get_option_string("teletreball_video_invite_url");
local max_failures = module:get_option_integer("teletreball_video_redeem_max_failures", 10, 1);
local failure_window = module:get_option_period("teletreball_video_redeem_failure_window", 600);

-- Prosody's own STUN/TURN settings (mod_external_services).
local turn_default_host = module:get_option_string("external_service_host", module.host);
local turn_default_port = module:get_option_integer("external_service_port", nil, 1, 65535);
local turn_secret = module:get_option_string("external_service_secret");
local turn_default_ttl = module:get_option_period("external_service_ttl", 86400);
local turn_services = module:get_option_array("external_services", {});

local function seconds(value, name)
	value = tonumber(value);
	if not value or value ~= value or value < 1 or value == math.huge then
		module:log("error", "%s must be a number of seconds above 0", name);
		return nil;
	end
	return math.floor(value);
end

-- What is wrong with the settings; nil when the module can work.
local config_error;
local function misconfigured(text)
	config_error = config_error or text;
	module:log("error", "teletreball-video: %s", text);
end

if not secret or secret == "" then misconfigured("teletreball_video_secret is not set"); end
if not muc_host or muc_host == "" then misconfigured("teletreball_video_muc is not set"); end
if not server or server == "" then misconfigured("teletreball_video_server is not set"); end
session_lifetime = seconds(session_lifetime, "teletreball_video_session_lifetime");
join_lifetime = seconds(join_lifetime, "teletreball_video_join_lifetime");
invite_max = seconds(invite_max, "teletreball_video_invite_max");
failure_window = seconds(failure_window, "teletreball_video_redeem_failure_window") or 600;
if not (session_lifetime and join_lifetime and invite_max) then
	misconfigured("a lifetime is not a number of seconds");
end
invite_max = invite_max and math.max(invite_max, INVITE_MIN);

local function valid_room_name(name)
	return type(name) == "string" and #name <= ROOM_NAME_MAX and name:match(ROOM_PATTERN) ~= nil;
end

local video_rooms = {};
for _, name in ipairs(room_names) do
	if valid_room_name(name) then
		video_rooms[name] = true;
	else
		module:log("error", "teletreball-video: teletreball_video_rooms: '%s' is not a room name; left out",
			tostring(name));
	end
end

local invites_on = false;
local mac_key, tag_key;
if invite_secret and invite_secret ~= "" then
	if invite_url and invite_url ~= "" then
		invites_on = true;
		-- Two keys from the one secret: the codes' MAC and the inviters' tags.
		mac_key = hashes.hmac_sha256(invite_secret, "teletreball-video:invite");
		tag_key = hashes.hmac_sha256(invite_secret, "teletreball-video:inviter");
	else
		module:log("error", "teletreball-video: teletreball_video_invite_url is not set; invitations are off");
	end
end

if config_error then
	module:set_status("error", config_error);
end

local function b64url(data)
	return (base64.encode(data):gsub("[+/=]", { ["+"] = "-", ["/"] = "_", ["="] = "" }));
end

local function unb64url(text)
	local padded = text:gsub("[-_]", { ["-"] = "+", ["_"] = "/" });
	return base64.decode(padded..("="):rep((4 - #padded % 4) % 4));
end

-- A Janus signed token for data "<expiry>,<realm>,<descriptor>".
local function janus_token(expiry, realm, descriptor)
	local data = ("%d,%s,%s"):format(expiry, realm, descriptor);
	return data..":"..base64.encode(hashes.hmac_sha1(secret, data));
end

-- The STUN/TURN services, prepared once: { url, type, secret, username, password, ttl }.
local ice_services = {};
for _, item in ipairs(turn_services) do
	local kind = type(item) == "table" and item.type;
	if kind == "stun" or kind == "turn" or kind == "turns" then
		local host = type(item.host) == "string" and item.host or turn_default_host;
		local port = type(item.port) == "number" and item.port or turn_default_port;
		if host:find(":", 1, true) then host = "["..host.."]"; end
		local url = kind..":"..host..(port and (":%d"):format(port) or "");
		if kind ~= "stun" and type(item.transport) == "string" then
			url = url.."?transport="..item.transport;
		end
		local service = { url = url, type = kind };
		local item_secret = item.secret == true and turn_secret or type(item.secret) == "string" and item.secret;
		if kind ~= "stun" then
			if item_secret and item_secret ~= "" then
				service.secret = item_secret;
				service.username = type(item.username) == "string" and item.username or nil;
				service.ttl = type(item.ttl) == "number" and item.ttl or turn_default_ttl;
			elseif type(item.username) == "string" and type(item.password) == "string" then
				service.username, service.password = item.username, item.password;
			else
				module:log("warn", "teletreball-video: %s has no credentials (external_service_secret?); left out", url);
				service = nil;
			end
		end
		if service then table.insert(ice_services, service); end
	end
end

-- The ICE servers for a session ending at `ends`: TURN REST credentials
-- (username "<expiry>[:<username>]", credential base64(HMAC-SHA1(secret, username))).
local function ice_servers(now, ends)
	local list = {};
	for _, service in ipairs(ice_services) do
		local entry = { urls = service.url };
		if service.secret then
			local expires = math.min(now + math.floor(service.ttl), ends);
			entry.username = ("%d"):format(expires)..(service.username and ":"..service.username or "");
			entry.credential = base64.encode(hashes.hmac_sha1(service.secret, entry.username));
		elseif service.password then
			entry.username, entry.credential = service.username, service.password;
		end
		table.insert(list, entry);
	end
	return list;
end

-- The tokens and servers for room `name` until `core_expiry` at the latest.
local function grant(name, now, core_expiry)
	local room_expiry = math.min(now + join_lifetime, core_expiry);
	return {
		room = name;
		server = server;
		token = janus_token(core_expiry, "janus", "janus.plugin.videoroom");
		room_token = janus_token(room_expiry, "janus.plugin.videoroom", "room="..name);
		expires = core_expiry;
		ice = ice_servers(now, core_expiry);
	};
end

-- The MUC room of a room with video, or nil and why not.
local function video_room(name)
	if not video_rooms[name] then
		return nil, "not in teletreball_video_rooms";
	end
	local host_session = prosody.hosts[muc_host];
	local muc = host_session and host_session.modules and host_session.modules.muc;
	if not muc then
		return nil, "the host "..tostring(muc_host).." is not a MUC component";
	end
	local room = muc.get_room_from_jid(name.."@"..muc_host);
	if not room then
		return nil, "no such room in the MUC";
	end
	if not room:get_members_only() then
		return nil, "the room is not members-only";
	end
	return room;
end

-- The room name of a request from `bare` for room JID `requested`, or nil and why not.
local function member_room(bare, requested)
	local prepped = requested and jid.prep(requested);
	if not prepped then
		return nil, "not a JID";
	end
	local node, host, resource = jid.split(prepped);
	if host ~= muc_host or resource or not valid_room_name(node) then
		return nil, "not a room of "..tostring(muc_host);
	end
	local room, why = video_room(node);
	if not room then return nil, why; end
	if not MEMBER_AFFILIATIONS[room:get_affiliation(bare) or "none"] then
		return nil, "not an owner, admin or member of the room";
	end
	return node;
end

-- The sender's bare JID when the stanza comes from a signed-in client of this
-- host; nil otherwise.
local function local_person(origin)
	if origin.type ~= "c2s" or origin.host ~= module.host or not origin.username then
		return nil;
	end
	return jid.join(origin.username, origin.host);
end

local function refuse(origin, stanza, kind, condition, text, request, who, room, reason)
	module:log("warn", "teletreball-video: refused %s of %s for %s: %s", request, tostring(who),
		tostring(room), reason);
	origin.send(st.error_reply(stanza, kind, condition, text));
	return true;
end

local function requester(origin, stanza)
	return local_person(origin) or stanza.attr.from or (tostring(origin.type).." session");
end

module:hook("iq-get/host/"..XMLNS..":video", function(event)
	local origin, stanza = event.origin, event.stanza;
	local requested = stanza.tags[1].attr.room;
	if config_error then
		return refuse(origin, stanza, "cancel", "service-unavailable", nil, "a token",
			requester(origin, stanza), requested, config_error);
	end
	local bare = local_person(origin);
	if not bare then
		return refuse(origin, stanza, "auth", "forbidden", nil, "a token", requester(origin, stanza),
			requested, "not a signed-in client of "..module.host);
	end
	if not requested then
		return refuse(origin, stanza, "modify", "bad-request", "The attribute room is missing",
			"a token", bare, requested, "no room attribute");
	end
	local name, why = member_room(bare, requested);
	if not name then
		return refuse(origin, stanza, "cancel", "item-not-found", NOT_FOUND_TEXT, "a token", bare,
			requested, why);
	end
	local now = os.time();
	local granted = grant(name, now, now + session_lifetime);
	local reply = st.reply(stanza):tag("video", { xmlns = XMLNS, room = name, server = server,
		expires = ("%d"):format(granted.expires) })
		:text_tag("token", granted.token)
		:text_tag("room-token", granted.room_token);
	for _, ice in ipairs(granted.ice) do
		reply:tag("ice", { urls = ice.urls, username = ice.username, credential = ice.credential }):up();
	end
	module:log("info", "teletreball-video: token for %s in %s", bare, name.."@"..muc_host);
	origin.send(reply);
	return true;
end);

module:hook("iq-set/host/"..XMLNS..":invite", function(event)
	local origin, stanza = event.origin, event.stanza;
	local request = stanza.tags[1];
	local requested = request.attr.room;
	if config_error then
		return refuse(origin, stanza, "cancel", "service-unavailable", nil, "an invitation",
			requester(origin, stanza), requested, config_error);
	end
	local bare = local_person(origin);
	if not bare then
		return refuse(origin, stanza, "auth", "forbidden", nil, "an invitation",
			requester(origin, stanza), requested, "not a signed-in client of "..module.host);
	end
	if not invites_on then
		return refuse(origin, stanza, "cancel", "feature-not-implemented", "Guest invitations are off",
			"an invitation", bare, requested, "invitations are off");
	end
	local wanted = request.attr.seconds;
	if not requested or type(wanted) ~= "string" or not wanted:match("^%d+$") then
		return refuse(origin, stanza, "modify", "bad-request",
			"The attributes room and seconds (a whole number) are required", "an invitation", bare,
			requested, "no room or no valid seconds attribute");
	end
	local name, why = member_room(bare, requested);
	if not name then
		return refuse(origin, stanza, "cancel", "item-not-found", NOT_FOUND_TEXT, "an invitation", bare,
			requested, why);
	end
	local lifetime = math.max(INVITE_MIN, math.min(invite_max, tonumber(wanted)));
	local expiry = os.time() + math.floor(lifetime);
	local tag = b64url(hashes.hmac_sha256(tag_key, bare):sub(1, 9));
	local payload = ("1.%s.%d.%s"):format(b64url(name), expiry, tag);
	local code = payload.."."..b64url(hashes.hmac_sha256(mac_key, payload));
	local url = invite_url..(invite_url:find("?", 1, true) and "&" or "?").."invite="..code;
	module:log("info", "teletreball-video: invitation %s by %s to %s until %d", tag, bare,
		name.."@"..muc_host, expiry);
	origin.send(st.reply(stanza):tag("invite", { xmlns = XMLNS, url = url,
		expires = ("%d"):format(expiry) }));
	return true;
end);

module:add_feature(XMLNS);

-- address -> { count = refused attempts, first = time of the first in the window }
local failures = {};

local function current_failures(address, now)
	local entry = failures[address];
	if entry and now - entry.first >= failure_window then
		failures[address] = nil;
		return nil;
	end
	return entry;
end

local function json_response(response, status, body)
	response.status_code = status;
	response.headers.content_type = "application/json";
	response.headers.cache_control = "no-store";
	return json.encode(body);
end

-- The room name and the inviter's tag of a valid code, or nil and why not.
local function check_invitation(code, now)
	if not invites_on then
		return nil, "invitations are off";
	end
	if type(code) ~= "string" then
		return nil, "no invitation in the body";
	end
	local payload, room64, expiry, tag, mac = code:match(
		"^(1%.([A-Za-z0-9_-]+)%.(%d+)%.([A-Za-z0-9_-]+))%.([A-Za-z0-9_-]+)$");
	if not payload then
		return nil, "not an invitation code";
	end
	if not hashes.equals(b64url(hashes.hmac_sha256(mac_key, payload)), mac) then
		return nil, "wrong signature (tampered, or another invitation secret)";
	end
	expiry = tonumber(expiry);
	if expiry <= now then
		return nil, ("invitation %s expired at %d"):format(tag, expiry);
	end
	if expiry > now + invite_max then
		return nil, ("invitation %s lasts longer than teletreball_video_invite_max"):format(tag);
	end
	local name = unb64url(room64);
	if not valid_room_name(name) then
		return nil, "not a room name";
	end
	local room, why = video_room(name);
	if not room then
		return nil, ("invitation %s to %s: %s"):format(tag, name, why);
	end
	return name, tag, math.floor(expiry);
end

local function redeem(event)
	local request, response = event.request, event.response;
	local address = request.ip or "?";
	local now = os.time();
	local function refused(status, body, reason)
		local entry = current_failures(address, now) or { count = 0, first = now };
		entry.count = entry.count + 1;
		failures[address] = entry;
		module:log("warn", "teletreball-video: refused an invitation from %s: %s", address, reason);
		return json_response(response, status, body);
	end
	if config_error then
		module:log("warn", "teletreball-video: refused an invitation from %s: %s", address, config_error);
		return json_response(response, 503, { error = "video is not available" });
	end
	local entry = current_failures(address, now);
	if entry and entry.count >= max_failures then
		module:log("warn", "teletreball-video: refused an invitation from %s: %d refused attempts in %d s",
			address, entry.count, failure_window);
		return json_response(response, 429, { error = "too many attempts; try again later" });
	end
	local body = request.body;
	if type(body) == "string" and #body > BODY_MAX then
		return refused(413, { error = "request too large" }, ("a body of %d bytes"):format(#body));
	end
	local decoded = type(body) == "string" and json.decode(body);
	local code = type(decoded) == "table" and decoded.invite;
	local name, tag, expiry = check_invitation(code, now);
	if not name then
		local reason = tag;
		return refused(403, { error = INVALID_INVITATION }, reason);
	end
	local granted = grant(name, now, math.min(expiry, now + session_lifetime));
	granted.ice = array(granted.ice);
	granted.guest = true;
	module:log("info", "teletreball-video: guest token in %s for %s (invitation %s)", name.."@"..muc_host,
		address, tag);
	return json_response(response, 200, granted);
end

module:depends("http");
module:provides("http", {
	-- Same origin only: the video page is served by the same web server.
	cors = { enabled = false };
	route = {
		["POST /invite"] = redeem;
	};
});

-- Forget what no longer counts, every minute, so the table stays small.
module:add_timer(60, function(now)
	for address, entry in pairs(failures) do
		if now - entry.first >= failure_window then failures[address] = nil; end
	end
	return 60;
end);
