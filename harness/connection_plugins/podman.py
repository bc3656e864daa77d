"""The lab's and the tests' podman connection, with pipelining.

It takes the place of the short name ``podman`` (Molecule's podman driver and
Testinfra both name the connection so) whenever ``harness/connection_plugins``
is in Ansible's connection plugin path: ansible.cfg and
.config/molecule/config.yml put it there. Without that path the collection's
plugin answers to the same name and everything still works, only slower.

What it changes against containers.podman's plugin, which it extends:

- Pipelining. A module is sent on the standard input of one ``podman exec -i``
  instead of being copied into the container, made executable, run and deleted
  (four ``podman`` processes and a temporary directory per task). Ansible's
  ``pipelining`` setting (ansible.cfg, ``[connection] pipelining``) turns it on.
- A persistent channel, the lab's ControlPersist: the first command for a
  container starts a master on the controller (harness/podman_channel) that
  keeps one ``podman exec -i CONTAINER python3`` open and runs every later
  command through it, until nothing has asked for ``podman_persist`` seconds
  (0: off, one ``podman exec`` per command). When the channel cannot start,
  the command goes through ``podman exec`` as before.
- The container's file system is mounted only when a file is really copied in
  or out, not before every task.

docs/architecture.md ("How the controller reaches the hosts") has the figures.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import pathlib
import shlex
import socket
import subprocess
import sys
import time

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible.utils.display import Display
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as CollectionConnection,
)

DOCUMENTATION = r"""
name: podman
short_description: Run tasks in podman containers, with pipelining
description:
  - Runs commands in, and copies files into and out of, running podman
    containers with the podman command line.
  - Extends the containers.podman connection plugin with pipelining, and mounts
    a container's file system only when a file is copied.
author: teletreball
extends_documentation_fragment:
  - connection_pipelining
options:
  remote_addr:
    description: Name or ID of the container.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: User (name or UID) that runs the commands in the container.
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments put before the podman subcommand.
    default: ""
    ini:
      - section: defaults
        key: podman_extra_args
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: The podman program.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
  podman_persist:
    description:
      - Seconds a container's channel stays open after its last command, as
        SSH's ControlPersist. 0 runs one C(podman exec) per command.
    type: float
    default: 60
    vars:
      - name: ansible_podman_persist
    env:
      - name: TT_PODMAN_PERSIST
"""

display = Display()
MASTER = pathlib.Path(__file__).resolve().parents[1] / "podman_channel" / "master.py"
SOCKET_DIR = pathlib.Path("~/.ansible/cp").expanduser()


class Connection(CollectionConnection):
    """containers.podman's connection with pipelining and a lazy mount."""

    transport = "podman"
    has_pipelining = True

    def _connect(self):
        # The collection's plugin runs `podman mount` here, for every task.
        # Pipelined modules never need it: put_file and fetch_file mount on
        # their first use instead.
        self._connected = True
        return self

    _mount_tried = False

    def _mounted(self):
        if not self._mount_tried:
            self._mount_tried = True
            super()._connect()
        return self._mount_point

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        # ConnectionBase.exec_command only records the command (-vvv).
        super(CollectionConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        if float(self.get_option("podman_persist")) > 0:
            answer = self._through_channel(argv, in_data)
            if answer is not None:
                return answer
        # A pipelined module: podman forwards standard input only with -i.
        args = ["exec", "-i"] if in_data is not None else ["exec"]
        if self.user:
            args += ["--user", self.user]
        return self._podman(args, argv, in_data)

    # ---- the persistent channel (harness/podman_channel) ----
    def _channel_socket(self):
        key = f"{self._container_id}\0{self.user or ''}\0{self.get_option('podman_extra_args')}"
        return SOCKET_DIR / f"podman-{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"

    def _ask(self, path, request):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))
            with client.makefile("rwb") as stream:
                stream.write(request)
                stream.flush()
                line = stream.readline()
        return json.loads(line) if line else None

    def _start_master(self, path):
        """Start the container's master unless one runs; wait for its socket."""
        SOCKET_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(f"{path}.lock", "w", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.connect(str(path))
                return  # another worker started it meanwhile
            except OSError:
                pass
            if path.exists():
                path.unlink()  # left by a master that did not end cleanly
            command = [sys.executable, str(MASTER),
                       "--idle", str(self.get_option("podman_persist")),
                       "--podman", self.get_option("podman_executable"),
                       "--extra-args", self.get_option("podman_extra_args") or ""]
            if self.user:
                command += ["--user", self.user]
            subprocess.Popen([*command, self._container_id, str(path)], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, close_fds=True)
            deadline = time.monotonic() + 10
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.02)

    def _through_channel(self, argv, in_data):
        """(rc, stdout, stderr) through the container's channel, or None: the
        caller then runs the command with its own `podman exec`."""
        path = self._channel_socket()
        data = None if in_data is None else base64.b64encode(in_data).decode("ascii")
        request = json.dumps({"argv": argv, "stdin": data}).encode() + b"\n"
        for attempt in range(2):
            try:
                answer = self._ask(path, request)
            except OSError:
                answer = None
            if answer is not None:
                return (answer["rc"], base64.b64decode(answer["stdout"]),
                        base64.b64decode(answer["stderr"]))
            if attempt == 0:
                try:
                    self._start_master(path)
                except OSError as error:
                    display.vvv(f"podman channel: cannot start ({error})", host=self._container_id)
                    return None
        display.vvv("podman channel: no answer, using podman exec", host=self._container_id)
        return None

    def put_file(self, in_path, out_path):
        self._mounted()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mounted()
        return super().fetch_file(in_path, out_path)
