#!/usr/bin/python
# Copyright: teletreball contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module: reload Asterisk modules and read parsed facts from a running Asterisk."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: teletreball_asterisk
short_description: Reload Asterisk modules and return parsed facts (endpoints, queues, calls)
description:
  - Talks to the Asterisk running on the host, through its CLI (C(asterisk -rx), the
    default) or through the manager interface (AMI), and returns what it was asked for
    as parsed facts with the same keys either way.
  - O(reload) reloads Asterisk modules one by one, in the order given, and checks what
    Asterisk answered for each; the module fails, naming the module and Asterisk's
    words, when a module is unknown, does not support reloads, reported a failure or
    was not initialised. Reloading always reports a change; in check mode nothing is
    reloaded and the modules are reported in RV(reloaded) as they would be.
  - O(gather) groups are read after any reload, so one task can reload
    C(res_pjsip.so) and return the endpoints as Asterisk now knows them.
  - O(command) runs one CLI command and returns its output lines. Only commands that
    read (C(... show ...), C(... list ...), C(database get), C(core ping)) are run
    unless O(allow_write=true); a command that may change Asterisk reports a change
    and is not run in check mode.
  - When Asterisk is not running the module fails with
    C(Asterisk is not running (no control socket /var/run/asterisk/asterisk.ctl)).
options:
  gather:
    description:
      - Fact groups to return, each under the key of its name.
      - C(endpoints) PJSIP endpoints with their state, AORs, contacts and transport.
      - C(contacts) PJSIP contacts with status and round-trip time. Through the CLI these
        include static contacts and long URIs are cut short by Asterisk's column; through
        AMI only registered devices are listed, with whole URIs.
      - C(registrations) outbound PJSIP registrations (to a carrier).
      - C(queues) queues with their members (state, paused, calls taken) and callers.
      - C(channels) active channels, each with the channel it is bridged to.
      - C(transports) PJSIP transports.
      - C(modules) loaded Asterisk modules and their status.
    type: list
    elements: str
    choices: [endpoints, contacts, registrations, queues, channels, transports, modules]
    default: []
  queue:
    description: Only this queue in RV(queues); a queue that does not exist gives an empty
      RV(queues).
    type: str
  reload:
    description:
      - Asterisk modules to reload, such as C(res_pjsip.so), C(app_queue.so),
        C(app_voicemail.so) or C(pbx_config).
    type: list
    elements: str
    default: []
  command:
    description: One CLI command to run; its output is returned in RV(stdout_lines).
    type: str
  allow_write:
    description: Let O(command) run a command that may change Asterisk.
    type: bool
    default: false
  via:
    description: C(cli) runs C(asterisk -rx) (needs root or the asterisk group); C(ami)
      uses the manager interface.
    type: str
    choices: [cli, ami]
    default: cli
  asterisk_bin:
    description: The asterisk program, for O(via=cli).
    type: str
    default: asterisk
  control_socket:
    description: Asterisk's control socket, checked before any CLI command.
    type: path
    default: /var/run/asterisk/asterisk.ctl
  ami_host:
    description: Address of the manager interface.
    type: str
    default: 127.0.0.1
  ami_port:
    description: Port of the manager interface.
    type: int
    default: 5038
  ami_username:
    description: Manager user name; required with O(via=ami).
    type: str
  ami_secret:
    description: Manager secret; required with O(via=ami).
    type: str
  timeout:
    description: Seconds to wait for Asterisk's answer to each command or action.
    type: int
    default: 15
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads run as usual. Reloads and commands that may change Asterisk are reported
      as changes and not run, so the facts gathered are those from before the reload.
  diff_mode:
    support: none
notes:
  - Supports check mode; reads run in check mode, reloads and writing commands do not.
  - With O(via=ami) the manager user needs the C(system), C(reporting), C(call) and
    C(agent) read permissions, and C(command) write permission for the groups C(transports),
    C(modules), O(reload) and O(command) (they run through the AMI C(Command) action).
requirements:
  - Asterisk 22 (the output formats parsed are those of Asterisk 22).
author:
  - teletreball contributors
"""

EXAMPLES = r"""
- name: Reload PJSIP and check that every endpoint is loaded
  teletreball_asterisk:
    reload: [res_pjsip.so]
    gather: [endpoints]
  register: pbx_pjsip
  failed_when: >-
    pbx_pjsip.failed or
    (pbx_endpoint_names | difference(pbx_pjsip.endpoints | map(attribute='name')))

- name: Queue members of the OAC queue, through the manager interface
  teletreball_asterisk:
    via: ami
    ami_username: teletreball
    ami_secret: "{{ pbx_ami_secret }}"
    gather: [queues]
    queue: oac
  register: pbx_queue

- name: Read-only CLI command
  teletreball_asterisk:
    command: core show uptime
  register: pbx_uptime
"""

RETURN = r"""
reloaded:
  description: Modules reloaded (or that would be in check mode), in order.
  returned: success
  type: list
  elements: str
  sample: [res_pjsip.so]
endpoints:
  description: PJSIP endpoints, when O(gather) has C(endpoints).
  returned: when asked
  type: list
  elements: dict
  contains:
    name: {description: Endpoint id., type: str}
    callerid: {description: Caller ID shown by Asterisk, or empty (CLI only)., type: str}
    state: {description: "Device state: C(Unavailable), C(Not in use), C(In use), C(Busy),
      C(Ringing)...", type: str}
    channels: {description: Active channels of the endpoint., type: int}
    aors: {description: AOR names., type: list, elements: str}
    auths: {description: Inbound auth objects., type: list, elements: str}
    outbound_auths: {description: Outbound auth objects., type: list, elements: str}
    transport: {description: Transport id, or empty., type: str}
    contacts: {description: Contact URIs now registered or static., type: list, elements: str}
contacts:
  description: PJSIP contacts, when O(gather) has C(contacts).
  returned: when asked
  type: list
  elements: dict
  contains:
    aor: {description: AOR of the contact., type: str}
    uri: {description: Contact URI., type: str}
    status: {description: "C(Avail), C(Unavail), C(NonQual), C(Unknown).", type: str}
    rtt_ms: {description: Qualify round-trip time in ms, or null., type: float}
    endpoint: {description: "Endpoint of the contact (AMI only, else empty).", type: str}
    hash: {description: "Contact hash (CLI only, else empty).", type: str}
registrations:
  description: Outbound PJSIP registrations, when O(gather) has C(registrations).
  returned: when asked
  type: list
  elements: dict
  contains:
    name: {description: Registration id., type: str}
    server_uri: {description: Registrar URI., type: str}
    auth: {description: Outbound auth, or empty., type: str}
    status: {description: "C(Registered), C(Unregistered), C(Rejected)...", type: str}
queues:
  description: Queues by name, when O(gather) has C(queues).
  returned: when asked
  type: dict
  contains:
    name: {description: Queue name., type: str}
    strategy: {description: Ring strategy., type: str}
    max: {description: Maximum callers waiting (0 is no limit)., type: int}
    calls: {description: Callers waiting., type: int}
    holdtime: {description: Average hold time in seconds., type: int}
    talktime: {description: Average talk time in seconds., type: int}
    weight: {description: Queue weight., type: int}
    service_level: {description: Service level percentage., type: float}
    completed: {description: Calls answered., type: int}
    abandoned: {description: Calls abandoned., type: int}
    members:
      description: Members of the queue.
      type: list
      elements: dict
      contains:
        name: {description: Member name., type: str}
        interface: {description: "Interface rung, such as C(PJSIP/agent1).", type: str}
        state_interface: {description: Interface whose state is watched., type: str}
        membership: {description: "C(static), C(dynamic) or C(realtime).", type: str}
        penalty: {description: Member penalty., type: int}
        state: {description: "Device state as text: C(Not in use), C(In use),
          C(Unavailable), C(Ringing)...", type: str}
        paused: {description: Paused., type: bool}
        paused_reason: {description: Pause reason, or empty., type: str}
        in_call: {description: On a queue call., type: bool}
        calls_taken: {description: Queue calls answered., type: int}
        last_call_age: {description: Seconds since the last queue call ended, or null.,
          type: int}
        login_age: {description: Seconds since the member was added, or null., type: int}
    callers:
      description: Callers waiting, in order.
      type: list
      elements: dict
      contains:
        position: {description: Position in the queue., type: int}
        channel: {description: Channel of the caller., type: str}
        wait: {description: Seconds waiting., type: int}
        priority: {description: Caller priority., type: int}
channels:
  description: Active channels, when O(gather) has C(channels).
  returned: when asked
  type: list
  elements: dict
  contains:
    channel: {description: Channel name., type: str}
    context: {description: Dialplan context., type: str}
    exten: {description: Extension., type: str}
    priority: {description: Priority., type: str}
    state: {description: "Channel state: C(Up), C(Ring), C(Ringing)...", type: str}
    application: {description: Application running., type: str}
    data: {description: Its arguments., type: str}
    callerid: {description: Caller ID number., type: str}
    accountcode: {description: Account code., type: str}
    duration: {description: Seconds since the channel was made., type: int}
    bridge_id: {description: Bridge the channel is in, or empty., type: str}
    bridged_with: {description: The other channels of that bridge., type: list,
      elements: str}
    uniqueid: {description: Unique id., type: str}
transports:
  description: PJSIP transports, when O(gather) has C(transports).
  returned: when asked
  type: list
  elements: dict
  contains:
    name: {description: Transport id., type: str}
    protocol: {description: "C(udp), C(tcp), C(tls), C(ws), C(wss).", type: str}
    bind: {description: Bound address and port., type: str}
modules:
  description: Loaded Asterisk modules by file name, when O(gather) has C(modules).
  returned: when asked
  type: dict
  contains:
    description: {description: Module description., type: str}
    use_count: {description: Users of the module., type: int}
    status: {description: "C(Running), C(Not Running), C(Declined)...", type: str}
    support_level: {description: "C(core), C(extended), C(deprecated)...", type: str}
stdout_lines:
  description: Output lines of O(command).
  returned: when O(command) is given
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.teletreball_asterisk import (
    AmiClient,
    AsteriskError,
    NotRunningError,
    ami_fact,
    cli_fact,
    is_read_only,
    not_running_message,
    reload_problem,
)

CLI_GROUPS = {
    "endpoints": "pjsip show endpoints",
    "contacts": "pjsip show contacts",
    "registrations": "pjsip show registrations",
    "queues": "queue show",
    "channels": "core show channels concise",
    "transports": "pjsip show transports",
    "modules": "module show",
}


class Cli:
    """Runs CLI commands with ``asterisk -rx``."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.socket = params["control_socket"]
        self.binary = params["asterisk_bin"]
        self.timeout = params["timeout"]

    def command(self, command):
        if not os.path.exists(self.socket):
            raise NotRunningError(not_running_message(self.socket))
        binary = self.binary if os.path.isabs(self.binary) else shutil.which(self.binary)
        if not binary:
            raise AsteriskError(f"{self.binary} was not found on the host")
        rc, out, err = self.module.run_command(
            ["timeout", str(self.timeout), binary, "-rx", command])
        text = out + err
        if "Unable to connect to remote asterisk" in text:
            raise NotRunningError(not_running_message(self.socket))
        if rc == 124:
            raise AsteriskError(
                f"Asterisk did not answer '{command}' within {self.timeout} s")
        if rc != 0:
            raise AsteriskError(f"asterisk -rx '{command}' failed (rc {rc}): {text.strip()}")
        if "No such command" in out and out.lstrip().startswith("No such command"):
            raise AsteriskError(f"Asterisk does not know the command '{command}': "
                                f"{out.strip()}")
        return out.split("\n")

    def fact(self, group, queue):
        command = CLI_GROUPS[group]
        if group == "queues" and queue:
            command = f"queue show {queue}"
        return cli_fact(group, self.command(command), queue)

    def close(self):
        pass


class Ami:
    """Reads facts through the manager interface."""

    def __init__(self, module):
        params = module.params
        for name in ("ami_username", "ami_secret"):
            if not params[name]:
                module.fail_json(msg=f"{name} is required with via=ami.")
        self.client = AmiClient(params["ami_host"], params["ami_port"], params["timeout"])
        self.client.connect()
        self.client.login(params["ami_username"], params["ami_secret"])

    def command(self, command):
        return self.client.command(command)

    def fact(self, group, queue):
        return ami_fact(self.client, group, queue)

    def close(self):
        try:
            self.client.logoff()
        finally:
            self.client.close()


def main():
    module = AnsibleModule(
        argument_spec={
            "gather": {
                "type": "list", "elements": "str", "default": [],
                "choices": list(CLI_GROUPS),
            },
            "queue": {"type": "str"},
            "reload": {"type": "list", "elements": "str", "default": []},
            "command": {"type": "str"},
            "allow_write": {"type": "bool", "default": False},
            "via": {"type": "str", "choices": ["cli", "ami"], "default": "cli"},
            "asterisk_bin": {"type": "str", "default": "asterisk"},
            "control_socket": {"type": "path", "default": "/var/run/asterisk/asterisk.ctl"},
            "ami_host": {"type": "str", "default": "127.0.0.1"},
            "ami_port": {"type": "int", "default": 5038},
            "ami_username": {"type": "str"},
            "ami_secret": {"type": "str", "no_log": True},
            "timeout": {"type": "int", "default": 15},
        },
        supports_check_mode=True,
    )
    params = module.params
    for name in params["reload"]:
        if not name or any(char.isspace() for char in name):
            module.fail_json(msg=f"'{name}' is not an Asterisk module name.")
    if params["command"] is not None:
        if not params["command"].strip() or "\n" in params["command"]:
            module.fail_json(msg="command must be one line of text.")
    if params["timeout"] < 1:
        module.fail_json(msg="timeout must be at least 1 second.")
    writes = params["command"] is not None and not is_read_only(params["command"])
    if writes and not params["allow_write"]:
        module.fail_json(
            msg=f"The command '{params['command']}' may change Asterisk; only commands that "
            "read run unless allow_write is true.")

    result = {"changed": False, "reloaded": []}
    session = None
    try:
        session = (Ami if params["via"] == "ami" else Cli)(module)
        for name in params["reload"]:
            result["changed"] = True
            if not module.check_mode:
                problem = reload_problem(name, session.command(f"module reload {name}"))
                if problem:
                    result["msg"] = problem
                    module.fail_json(**result)
            result["reloaded"].append(name)
        if params["command"] is not None:
            if writes:
                result["changed"] = True
            if writes and module.check_mode:
                result["stdout_lines"] = []
            else:
                lines = session.command(params["command"])
                while lines and not lines[-1]:
                    lines.pop()
                result["stdout_lines"] = lines
        for group in dict.fromkeys(params["gather"]):
            result[group] = session.fact(group, params["queue"])
    except AsteriskError as exc:
        result["msg"] = str(exc)
        module.fail_json(**result)
    finally:
        if session is not None:
            try:
                session.close()
            except AsteriskError:
                pass
    module.exit_json(**result)


if __name__ == "__main__":
    main()
