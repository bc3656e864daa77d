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
- The container's file system is mounted only when a file is really copied in
  or out, not before every task.

docs/architecture.md ("How the controller reaches the hosts") has the figures.
"""

from __future__ import annotations

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
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
"""


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
        if in_data is None:
            return super().exec_command(cmd, in_data=None, sudoable=sudoable)
        # A pipelined module: podman forwards standard input only with -i.
        # ConnectionBase.exec_command only records the command (-vvv).
        super(CollectionConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec", "-i"]
        if self.user:
            args += ["--user", self.user]
        argv = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        return self._podman(args, argv, in_data)

    def put_file(self, in_path, out_path):
        self._mounted()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mounted()
        return super().fetch_file(in_path, out_path)
