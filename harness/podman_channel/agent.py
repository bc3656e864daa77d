"""The container's end of a persistent podman channel (harness/podman_channel).

Started by the channel's master as ``python3 -u -c <this file's text>`` inside
one ``podman exec -i``, it runs the commands the master sends, so that each of
Ansible's commands costs a process in the container and not a new
``podman exec`` (the lab's equivalent of SSH's ControlPersist).

Protocol, one JSON object per line on standard input and output:
  request   {"id": N, "argv": [...], "stdin": base64 or null}
  response  {"id": N, "rc": int, "stdout": base64, "stderr": base64}
Requests run at the same time, each in its own thread; responses come back
as the commands end. The agent ends when its standard input closes.
"""

import base64
import json
import subprocess
import sys
import threading

_write_lock = threading.Lock()


def _encode(data):
    return base64.b64encode(data).decode("ascii")


def respond(out, answer):
    line = json.dumps(answer) + "\n"
    with _write_lock:
        out.write(line)
        out.flush()


def run(request):
    """Run one request; the answer for it (a command that cannot start gives rc 127)."""
    stdin = request.get("stdin")
    data = base64.b64decode(stdin) if stdin is not None else b""
    try:
        done = subprocess.run(request["argv"], input=data, capture_output=True, check=False)
        rc, stdout, stderr = done.returncode, done.stdout, done.stderr
    except OSError as error:
        rc, stdout, stderr = 127, b"", f"{request['argv'][0]}: {error}\n".encode()
    return {"id": request["id"], "rc": rc, "stdout": _encode(stdout), "stderr": _encode(stderr)}


def serve(lines, out):
    threads = []
    for line in lines:
        if not line.strip():
            continue
        request = json.loads(line)
        thread = threading.Thread(target=lambda r=request: respond(out, run(r)), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
