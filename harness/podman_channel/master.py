"""The controller's end of a persistent podman channel: SSH's ControlPersist for
the lab's podman connection (harness/connection_plugins/podman.py).

One master per container and user. It keeps one ``podman exec -i CONTAINER
python3`` running the agent (agent.py), listens on a Unix socket, and passes
each client's request to the agent and the answer back. It ends when nothing
has asked for `--idle` seconds, or when the agent ends (the container stopped).

Client protocol: connect, send one JSON line {"argv": [...], "stdin": base64 or
null}, read one JSON line {"rc", "stdout", "stderr"} (base64), close.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import queue
import socket
import subprocess
import sys
import threading
import time

AGENT = pathlib.Path(__file__).with_name("agent.py")


class Master:
    def __init__(self, command, socket_path, idle):
        self.agent = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.socket_path = socket_path
        self.idle = idle
        self.lock = threading.Lock()
        self.waiting: dict[int, queue.Queue] = {}
        self.next_id = 0
        self.last_used = time.monotonic()
        self.done = threading.Event()

    def read_answers(self):
        for line in self.agent.stdout:
            answer = json.loads(line)
            with self.lock:
                box = self.waiting.pop(answer["id"], None)
            if box is not None:
                box.put(answer)
        # The agent ended: the container stopped or was removed.
        self.done.set()
        with self.lock:
            for box in self.waiting.values():
                box.put(None)
            self.waiting.clear()

    def ask(self, request):
        box: queue.Queue = queue.Queue(maxsize=1)
        with self.lock:
            self.next_id += 1
            request["id"] = self.next_id
            self.waiting[request["id"]] = box
            self.agent.stdin.write(json.dumps(request) + "\n")
            self.agent.stdin.flush()
        return box.get()

    def client(self, conn):
        try:
            with conn, conn.makefile("rwb") as stream:
                line = stream.readline()
                if not line:
                    return
                request = json.loads(line)
                answer = self.ask({"argv": request["argv"], "stdin": request.get("stdin")})
                if answer is None:
                    return  # closing without an answer: the client falls back
                answer.pop("id", None)
                stream.write(json.dumps(answer).encode() + b"\n")
                stream.flush()
        except (OSError, ValueError, BrokenPipeError):
            pass
        finally:
            with self.lock:
                self.last_used = time.monotonic()

    def busy(self):
        with self.lock:
            return bool(self.waiting)

    def serve(self, listener):
        threading.Thread(target=self.read_answers, daemon=True).start()
        listener.settimeout(1.0)
        while not self.done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if not self.busy() and time.monotonic() - self.last_used > self.idle:
                    break
                continue
            with self.lock:
                self.last_used = time.monotonic()
            threading.Thread(target=self.client, args=(conn,), daemon=True).start()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--podman", default="podman")
    parser.add_argument("--extra-args", default="", help="podman's global arguments")
    parser.add_argument("--user", default="")
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("container")
    parser.add_argument("socket")
    args = parser.parse_args(argv)

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.umask(0o077)
    try:
        listener.bind(args.socket)
    except OSError:
        return 0  # another master serves this container already
    listener.listen(64)
    command = [args.podman, *args.extra_args.split(), "exec", "-i"]
    if args.user:
        command += ["--user", args.user]
    command += [args.container, "python3", "-u", "-c", AGENT.read_text(encoding="utf-8")]
    try:
        master = Master(command, args.socket, args.idle)
        master.serve(listener)
    finally:
        try:
            os.unlink(args.socket)
        except FileNotFoundError:
            pass
        listener.close()
    master.agent.stdin.close()
    try:
        master.agent.wait(timeout=10)
    except subprocess.TimeoutExpired:
        master.agent.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
