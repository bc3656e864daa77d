-- teletreball: role conference. Deployed by Ansible; local changes are overwritten.
--
-- Adds one command to Prosody's admin shell:
--
--   prosodyctl shell teletreball sync <state file> <plan|apply>
--
-- The state file (JSON, written 0600 for the user prosody by the Ansible module
-- teletreball_prosody, on a tmpfs) lists every account that must exist and be
-- enabled, with its password, and the rooms with their affiliations. This module
-- reads it, deletes it, and brings the accounts and rooms to it with Prosody's own
-- API: the password hashing, the account-disabled event (which closes the open
-- sessions at once) and the MUC API. "plan" only reads; "apply" acts.
--
-- One JSON object is printed per action, never with a password in it. The command
-- fails (the shell's exit status is non-zero) on the first error.
--
-- Checking a password against the stored SCRAM keys (PBKDF2) is slow by design. An
-- account of the state file may carry verified_credential: the digest (below) of
-- the stored keys that an earlier run found to match its password. While the stored
-- keys have that digest the check is skipped. For every account whose stored keys
-- are known to match its password (checked, skipped so, or just set), one line
-- {"action": "verified", "jid": ..., "credential": <digest>} is printed; it is not
-- an action and is not counted.

module:set_global();

local json = require "prosody.util.json";
local hex = require "prosody.util.hex";
local hashes = require "prosody.util.hashes";
local usermanager = require "prosody.core.usermanager";
local storagemanager = require "prosody.core.storagemanager";
local configmanager = require "prosody.core.configmanager";
local scram_hashers = require "prosody.util.sasl.scram".hashers;

local st = require "prosody.util.stanza";

local STATE_VERSION = 1;
-- The display name is the person's vCard (XEP-0292, as mod_vcard4 and
-- mod_vcard_legacy keep it in PEP), readable by every account of the server.
local VCARD4_NODE = "urn:xmpp:vcard4";
local VCARD4_DEFAULTS = { access_model = "open"; _defaults_only = true };
local DISABLED_REASON = "teletreball: not in the staff directory";
local DAY = 86400;

local function read_state(path)
	local file, err = io.open(path, "r");
	if not file then
		return nil, "cannot read the state file: "..tostring(err);
	end
	local text = file:read("*a");
	file:close();
	os.remove(path);
	local state = json.decode(text or "");
	if type(state) ~= "table" or state.version ~= STATE_VERSION then
		return nil, "the state file is not a teletreball state of version "..STATE_VERSION;
	end
	return state;
end

-- True when the stored SCRAM keys match the password (reads only: unlike
-- usermanager.test_password, it never rewrites an account).
local function password_matches(account, host, password)
	if type(account.salt) ~= "string" or type(account.iteration_count) ~= "number" then
		return false;
	end
	local hash_name = configmanager.get(host, "password_hash") or "SHA-1";
	local hasher = scram_hashers[hash_name];
	if not hasher then
		return false;
	end
	local ok, stored_key, server_key = hasher(password, account.salt, account.iteration_count);
	if not ok or type(account.stored_key) ~= "string" or type(account.server_key) ~= "string" then
		return false;
	end
	return hashes.equals(hex.encode(stored_key), account.stored_key)
		and hashes.equals(hex.encode(server_key), account.server_key);
end

-- SHA-256 (hex) of what the password check reads of an account: the hash name, the
-- iteration count, the salt and the stored keys. Nil when they are not all there.
local function credential_digest(account, host)
	local hash_name = configmanager.get(host, "password_hash") or "SHA-1";
	if type(account.salt) ~= "string" or type(account.iteration_count) ~= "number"
		or type(account.stored_key) ~= "string" or type(account.server_key) ~= "string" then
		return nil;
	end
	return hashes.sha256(table.concat({ hash_name, tostring(account.iteration_count),
		#account.salt..":"..account.salt, account.stored_key, account.server_key }, "\n"), true);
end

-- True when the stored keys are those an earlier run found to match the password
-- (their digest is the one the state file gives): a string compare, no PBKDF2.
local function known_to_match(account, host, known)
	if type(known) ~= "string" then return false; end
	local digest = credential_digest(account, host);
	return digest ~= nil and hashes.equals(digest, known);
end

-- The account's vCard (nil when it has none), the name it shows, and its PEP service.
local function vcard_of(host, username)
	local pep = prosody.hosts[host].modules and prosody.hosts[host].modules.pep;
	if not pep then return nil, nil, nil, "mod_pep is not loaded on "..host; end
	local service = pep.get_pep_service(username);
	local ok, _, item = service:get_last_item(VCARD4_NODE, true);
	local vcard = ok and item and item.tags[1] or nil;
	local fn = vcard and vcard:get_child("fn");
	return vcard, fn and fn:get_child_text("text"), service;
end

-- The directory's name becomes the account's display name: a name changed in
-- a client is set back to the directory's on the next run. The vCard's other
-- fields are kept.
local function sync_name(host, username, name, mode, report)
	if type(name) ~= "string" or name == "" then return true; end
	local current, current_name, service, err = vcard_of(host, username);
	if err then return nil, err; end
	if current_name == name then return true; end
	report({ action = "name", jid = username.."@"..host });
	if mode ~= "apply" then return true; end
	local vcard = st.stanza("vcard", { xmlns = "urn:ietf:params:xml:ns:vcard-4.0" });
	for _, child in ipairs(current and current.tags or {}) do
		if child.name ~= "fn" then vcard:add_child(st.clone(child)); end
	end
	vcard:tag("fn"):text_tag("text", name):up();
	local item = st.stanza("item", { xmlns = "http://jabber.org/protocol/pubsub", id = "current" })
		:add_child(vcard);
	local ok, perr = service:publish(VCARD4_NODE, true, "current", item, VCARD4_DEFAULTS);
	if not ok then return nil, "cannot set the name of "..username.."@"..host..": "..tostring(perr); end
	return true;
end

local function sync_accounts(state, mode, report, verified)
	local wanted = {};
	for _, account in ipairs(state.accounts or {}) do
		wanted[account.host] = wanted[account.host] or {};
		wanted[account.host][account.username] = account;
	end
	local retention = (tonumber(state.retention_days) or 30) * DAY;
	local now = os.time();

	for _, host in ipairs(state.hosts or {}) do
		if not prosody.hosts[host] or not prosody.hosts[host].users then
			return nil, "unknown host "..tostring(host);
		end
		local store = storagemanager.open(host, "accounts");
		local host_wanted = wanted[host] or {};

		local names = {};
		for username in pairs(host_wanted) do table.insert(names, username); end
		table.sort(names);
		for _, username in ipairs(names) do
			local password = host_wanted[username].password;
			local known = host_wanted[username].verified_credential;
			local jid = username.."@"..host;
			local account = store:get(username);
			if not account then
				report({ action = "create", jid = jid });
				if mode == "apply" then
					-- Prosody keeps the rosters of offline users in a cache that deleting
					-- an account does not empty: a new account of the same name would get
					-- the deleted one's contacts until a restart (issue 18 D).
					local roster_cache = prosody.hosts[host].roster_cache;
					if roster_cache then roster_cache:set(jid, nil); end
					local ok, err = usermanager.create_user_with_role(username, password, host, "prosody:member");
					if not ok then return nil, "cannot create "..jid..": "..tostring(err); end
					verified(jid, store:get(username), host);
				end
			else
				if account.disabled then
					report({ action = "enable", jid = jid });
					if mode == "apply" then
						local ok, err = usermanager.enable_user(username, host);
						if not ok then return nil, "cannot enable "..jid..": "..tostring(err); end
					end
				end
				if known_to_match(account, host, known) or password_matches(account, host, password) then
					verified(jid, account, host);
				else
					report({ action = "password", jid = jid });
					if mode == "apply" then
						local ok, err = usermanager.set_password(username, password, host);
						if not ok then return nil, "cannot set the password of "..jid..": "..tostring(err); end
						verified(jid, store:get(username), host);
					end
				end
			end
			if account or mode == "apply" then
				local ok, err = sync_name(host, username, host_wanted[username].name, mode, report);
				if not ok then return nil, err; end
			elseif type(host_wanted[username].name) == "string" and host_wanted[username].name ~= "" then
				report({ action = "name", jid = jid });
			end
		end

		-- Everybody else on a managed host: disabled (sessions closed by Prosody),
		-- then reported for archiving once the retention has passed.
		local others = {};
		for username in usermanager.users(host) do
			if host_wanted[username] == nil then
				table.insert(others, username);
			end
		end
		table.sort(others);
		for _, username in ipairs(others) do
			local jid = username.."@"..host;
			local account = store:get(username) or {};
			if not account.disabled then
				report({ action = "disable", jid = jid });
				if mode == "apply" then
					local ok, err = usermanager.disable_user(username, host,
						{ reason = DISABLED_REASON, when = now });
					if not ok then return nil, "cannot disable "..jid..": "..tostring(err); end
				end
			else
				local meta = account.disabled_meta;
				local since = type(meta) == "table" and tonumber(meta.when) or tonumber(account.updated) or now;
				if now - since >= retention then
					report({ action = "archive_due", jid = jid, disabled_since = since });
				end
			end
		end
	end
	return true;
end

local function bool(value)
	return not not value;
end

-- Room settings the role enforces: name, getter result wanted, setter argument.
local function room_settings(room_state, language)
	return {
		{ "name", room_state.title ~= "" and room_state.title or nil };
		{ "description", room_state.description ~= "" and room_state.description or nil };
		{ "members_only", true };
		{ "persistent", true };
		{ "hidden", true };
		{ "whois", "anyone" };
		{ "changesubject", false };
		{ "allow_member_invites", false };
		{ "language", language };
	};
end

local function current(room, name)
	local value = room["get_"..name](room);
	if type(value) == "boolean" or value == nil then
		if name == "name" or name == "description" or name == "language" then
			return value;
		end
		return bool(value);
	end
	return value;
end

local function sync_rooms(state, mode, report)
	local rooms = state.rooms or {};
	if #rooms == 0 then return true; end
	local muc_host = state.muc_host;
	local host_session = prosody.hosts[muc_host];
	local muc = host_session and host_session.modules.muc;
	if not muc then
		return nil, "the host "..tostring(muc_host).." is not a MUC component";
	end
	local language = configmanager.get(muc_host, "muc_room_default_language");
	local declared = {};

	for _, room_state in ipairs(rooms) do
		local room_jid = room_state.name.."@"..muc_host;
		declared[room_jid] = true;
		local room = muc.get_room_from_jid(room_jid);
		if room_state.state == "absent" then
			if room then
				report({ action = "room_destroy", room = room_jid });
				if mode == "apply" then
					room:destroy(nil, "Closed by the council's IT team");
				end
			end
		else
			if not room then
				report({ action = "room_create", room = room_jid });
				if mode == "apply" then
					local err;
					room, err = muc.create_room(room_jid);
					if not room then return nil, "cannot create "..room_jid..": "..tostring(err); end
				end
			end
			local changed = false;
			local settings = room_settings(room_state, language);
			if room then
				for _, setting in ipairs(settings) do
					local name, wanted = setting[1], setting[2];
					if current(room, name) ~= wanted then
						report({ action = "room_config", room = room_jid, setting = name });
						if mode == "apply" then
							room["set_"..name](room, wanted);
							changed = true;
						end
					end
				end
				if room._data.archiving ~= true then
					report({ action = "room_config", room = room_jid, setting = "archiving" });
					if mode == "apply" then
						room._data.archiving = true;
						changed = true;
					end
				end
			end
			local wanted = room_state.affiliations or {};
			local names = {};
			for jid in pairs(wanted) do table.insert(names, jid); end
			table.sort(names);
			for _, jid in ipairs(names) do
				local affiliation = wanted[jid];
				if not room or room:get_affiliation(jid) ~= affiliation then
					report({ action = "affiliation", room = room_jid, jid = jid, affiliation = affiliation });
					if mode == "apply" then
						local ok, err_type, err = room:set_affiliation(true, jid, affiliation, "teletreball");
						if not ok then
							return nil, "cannot make "..jid.." "..affiliation.." of "..room_jid..": "..tostring(err or err_type);
						end
						changed = true;
					end
				end
			end
			if room then
				local extra = {};
				for jid, affiliation in room:each_affiliation() do
					if wanted[jid] == nil and (affiliation == "member" or affiliation == "admin" or affiliation == "owner") then
						table.insert(extra, jid);
					end
				end
				table.sort(extra);
				for _, jid in ipairs(extra) do
					report({ action = "affiliation", room = room_jid, jid = jid, affiliation = "none" });
					if mode == "apply" then
						local ok, err_type, err = room:set_affiliation(true, jid, "none", "teletreball: no longer a member");
						if not ok then
							return nil, "cannot remove "..jid.." from "..room_jid..": "..tostring(err or err_type);
						end
						changed = true;
					end
				end
			end
			if changed and room then
				room:save(true);
			end
		end
	end

	for room in muc.each_room() do
		if not declared[room.jid] then
			report({ action = "room_unmanaged", room = room.jid });
		end
	end
	return true;
end

module:add_item("shell-command", {
	section = "teletreball";
	section_desc = "teletreball: the staff directory's accounts and rooms";
	name = "sync";
	desc = "Bring the accounts and rooms to a teletreball state file (mode plan or apply)";
	args = { { name = "path"; type = "string" }, { name = "mode"; type = "string" } };
	handler = function(self, path, mode)
		if mode ~= "plan" and mode ~= "apply" then
			return nil, "mode must be plan or apply";
		end
		if type(path) ~= "string" or not path:match("^/") then
			return nil, "the state file must be an absolute path";
		end
		local state, err = read_state(path);
		if not state then return nil, err; end
		local count = 0;
		local function report(action)
			count = count + 1;
			self.session.print(json.encode(action));
		end
		local function verified(jid, account, host)
			local digest = account and credential_digest(account, host);
			if digest then
				self.session.print(json.encode({ action = "verified", jid = jid, credential = digest }));
			end
		end
		local ok;
		ok, err = sync_accounts(state, mode, report, verified);
		if not ok then return nil, err; end
		ok, err = sync_rooms(state, mode, report);
		if not ok then return nil, err; end
		return true, ("%d action(s), mode %s"):format(count, mode);
	end;
});
