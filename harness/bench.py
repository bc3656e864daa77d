"""The benchmark of `make bench`: how long `playbooks/site.yml` takes on the lab.

Cases (docs/performance.md, "The benchmark"):

  converge   a first converge: the lab's containers made anew (apt cache and
             package build warm), then site.yml
  nochange   site.yml on the converged lab; every host must report 0 changes
  ssh        the same over SSH (ControlPersist, pipelining), as a council's
             controller reaches its hosts: the lab's admin account lab-admin
             with its key, sudo for root
  onboard    one person added to the lab's directory (VPN device, desktop,
             extension, chat), site.yml, then proof that every service has her;
             she is offboarded afterwards (not timed)
  scale      generated directories of 10 and 500 people (1 or 2 devices each,
             the lab's groups); for each, a converge and a no-change run

Each run goes through the teletreball_summary callback; the results (wall
time, time per role, task results and changes per host) go to one JSON file,
and harness/bench_report.py renders every JSON file of docs/bench/ as the
tables of docs/performance.md. Logs: ${TT_CACHE_DIR}/bench/<stamp>/.

The scale case leaves the lab with the last generated directory:
`make lab-destroy && make lab` gives the plain lab back.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories" / "lab" / "hosts.yml"
STAFF_FILE = ROOT / "inventories" / "lab" / "group_vars" / "all" / "staff.yml"
CREDENTIALS = ROOT / "credentials" / "lab"
CASES = ("converge", "nochange", "ssh", "onboard", "scale")
HIRE = "bench-hire"


class BenchError(Exception):
    """A run failed or did not give what the case requires."""


def cache_dir() -> pathlib.Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache")
    return pathlib.Path(os.environ.get("TT_CACHE_DIR") or os.path.join(base, "teletreball"))


class Bench:
    def __init__(self, workdir: pathlib.Path):
        self.workdir = workdir
        self.env = dict(os.environ)
        self.env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{self.env['PATH']}"
        self.env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
        self.env["CONTAINERS_CONF"] = str(ROOT / "harness" / "containers.conf")
        self.env["ANSIBLE_FORCE_COLOR"] = "0"

    def playbook(self, name: str, playbook: str, *args: str, inventories=(INVENTORY,)) -> dict:
        """Run a playbook; return its summary with `wall` (seconds, measured here)."""
        summary = self.workdir / f"{name}.json"
        log = self.workdir / f"{name}.log"
        env = dict(self.env,
                   ANSIBLE_CALLBACKS_ENABLED="teletreball_summary,ansible.posix.profile_tasks",
                   PROFILE_TASKS_TASK_OUTPUT_LIMIT="40",
                   TT_RUN_SUMMARY=str(summary))
        command = ["ansible-playbook"]
        for inventory in inventories:
            command += ["-i", str(inventory)]
        command += [str(ROOT / playbook), *args]
        print(f"==> {name}: {playbook} (log: {log})", file=sys.stderr, flush=True)
        start = time.monotonic()
        with open(log, "w", encoding="utf-8") as out:
            rc = subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                check=False).returncode
        wall = round(time.monotonic() - start, 1)
        if rc != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            raise BenchError(f"{name}: {playbook} failed ({rc}):\n" + "\n".join(tail))
        result = json.loads(summary.read_text(encoding="utf-8"))
        return {
            "wall_s": wall,
            "role_s": result["role_seconds"],
            "tasks": {h: s["tasks"] for h, s in result["hosts"].items() if h != "localhost"},
            "changed": {h: s["changed"] for h, s in result["hosts"].items()},
            "changed_tasks": {h: s["changed_tasks"] for h, s in result["hosts"].items()
                              if s["changed_tasks"]},
        }

    def run(self, *command: str, stdin: str | None = None) -> str:
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              input=stdin, check=False)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
        return done.stdout

    def podman(self, host: str, *command: str) -> str:
        return self.run("podman", "exec", host, *command)


def no_change(result: dict, what: str) -> dict:
    changed = {h: n for h, n in result["changed"].items() if n}
    if changed:
        raise BenchError(f"{what} changed something: {result['changed_tasks']}")
    return result


def lab_hosts() -> dict:
    """Host name -> its address on the lab's internal network."""
    data = yaml.safe_load(INVENTORY.read_text(encoding="utf-8"))
    hosts = {}

    def walk(group):
        for name, host in (group.get("hosts") or {}).items():
            # A host listed in a second group is described under its first one.
            if not (host or {}).get("lab_container"):
                continue
            for network in host["lab_container"]["networks"]:
                if network["name"] == "teletreball-lab":
                    hosts[name] = network["ip"]
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(data["all"])
    return hosts


def lab_staff() -> list:
    return yaml.safe_load(STAFF_FILE.read_text(encoding="utf-8"))["teletreball_staff"]


def case_converge(bench: Bench) -> dict:
    print("==> converge: the lab's containers anew", file=sys.stderr)
    bench.run(str(ROOT / "harness" / "lab"), "destroy")
    bench.playbook("converge-containers", "harness/lab-containers.yml")
    result = bench.playbook("converge", "playbooks/site.yml")
    # The rest of `make lab` (not timed): the carrier and the remote worker's laptop.
    bench.playbook("converge-outside", "harness/lab-outside.yml")
    return result


def case_nochange(bench: Bench) -> dict:
    return no_change(bench.playbook("nochange", "playbooks/site.yml"), "the no-change run")


def case_ssh(bench: Bench) -> dict:
    known_hosts = bench.workdir / "known_hosts"
    overlay = {"all": {"hosts": {
        host: {
            "ansible_connection": "ssh",
            "ansible_host": address,
            "ansible_user": "lab-admin",
            "ansible_become": True,
            "ansible_ssh_private_key_file": str(CREDENTIALS / "lab-admin_ed25519"),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=accept-new "
                                       f"-o UserKnownHostsFile={known_hosts}",
        } for host, address in lab_hosts().items()}}}
    path = bench.workdir / "ssh-inventory.yml"
    path.write_text(yaml.safe_dump(overlay), encoding="utf-8")
    result = bench.playbook("ssh", "playbooks/site.yml", inventories=(INVENTORY, path))
    return no_change(result, "the no-change run over SSH")


def case_onboard(bench: Bench) -> dict:
    staff = [p for p in lab_staff() if p["username"] != HIRE]
    used = {p.get("extension") for p in staff}
    extension = next(n for n in range(2050, 2100) if n not in used)
    hire = {"username": HIRE, "name": "Anna Bench-Puig", "email": f"{HIRE}@lab.teletreball.test",
            "department": "OAC", "groups": ["oac_agents"], "extension": extension,
            "vpn_devices": ["laptop"], "desktop": True, "desktop_host": "tt-vdi1"}
    extra = bench.workdir / "onboard-vars.json"
    gone = {**hire, "state": "absent"}
    undo = {"teletreball_staff": [*staff, gone], "vdi_home_retention_days": 0,
            "conference_account_retention_days": 0}
    if (CREDENTIALS / "people" / HIRE).is_dir():
        # Left by an interrupted benchmark: offboard her first (not timed).
        extra.write_text(json.dumps(undo), encoding="utf-8")
        bench.playbook("onboard-before", "playbooks/site.yml", "-e", f"@{extra}")
    extra.write_text(json.dumps({"teletreball_staff": [*staff, hire]}), encoding="utf-8")
    result = bench.playbook("onboard", "playbooks/site.yml", "-e", f"@{extra}")
    ready = time.monotonic()
    result["proof"] = prove_onboarded(bench, hire)
    result["proof_s"] = round(time.monotonic() - ready, 1)
    # Not timed: offboard her again, so that the next benchmark adds her anew.
    extra.write_text(json.dumps(undo), encoding="utf-8")
    bench.playbook("onboard-undo", "playbooks/site.yml", "-e", f"@{extra}")
    return result


def prove_onboarded(bench: Bench, hire: dict) -> list:
    """Every service has the new person (the tests prove logins, calls and chat)."""
    user, proof = hire["username"], []
    pack = CREDENTIALS / "people" / user
    profile = pack / "vpn" / "laptop.conf"
    for name in ("README.md",):
        if not (pack / name).is_file():
            raise BenchError(f"her pack has no {name}")
    private = next(line.split("=", 1)[1].strip() for line in profile.read_text().splitlines()
                   if line.startswith("PrivateKey"))
    public = bench.run("podman", "exec", "-i", "tt-vpn", "wg", "pubkey", stdin=private).strip()
    if public not in bench.podman("tt-vpn", "wg", "show", "all", "peers").split():
        raise BenchError("the gateway has no peer for her laptop")
    proof.append("pack ready; her laptop is a peer of the gateway")
    bench.podman(hire["desktop_host"], "getent", "passwd", user)
    bench.podman(hire["desktop_host"], "grep", "-qE", f"[[:space:]]{user}[[:space:]]",
                 "/etc/teletreball/vdi/users.oath")
    proof.append(f"desktop account and TOTP entry on {hire['desktop_host']}")
    endpoint = bench.podman("tt-pbx", "asterisk", "-rx", f"pjsip show endpoint {user}")
    if "Endpoint:" not in endpoint:
        raise BenchError(f"the PBX has no endpoint {user}")
    proof.append(f"PBX endpoint {user}")
    accounts = bench.podman("tt-conf", "prosodyctl", "shell", "user", "list",
                            "lab.teletreball.test")
    if f"{user}@lab.teletreball.test" not in accounts.split():
        raise BenchError("the chat server has no account for her")
    proof.append("chat account")
    return proof


def generated_staff(count: int) -> list:
    """`count` people in the lab's groups: a tenth OAC agents, one in twenty in the
    government, one in fifty IT admins, the rest staff; every third with two devices."""
    departments = ["OAC", "Urbanisme", "Secretaria", "Serveis Socials", "Intervenció",
                   "Cultura", "Esports", "Via Pública"]
    staff, extension = [], 2000
    for i in range(count):
        group = ("oac_agents" if i % 10 == 0 else "govern" if i % 20 == 1
                 else "it_admins" if i % 50 == 2 else "staff")
        person = {
            "username": f"p{i:04d}", "name": f"Persona {i:04d} d'Exemple",
            "email": f"p{i:04d}@lab.teletreball.test",
            "department": "OAC" if group == "oac_agents" else departments[i % len(departments)],
            "groups": [group],
            "vpn_devices": ["laptop", "phone"] if i % 3 == 0 else ["laptop"],
            "desktop": group != "it_admins",
        }
        if person["desktop"]:
            person["desktop_host"] = "tt-vdi1" if i % 2 else "tt-vdi2"
        if group != "staff":
            person["extension"] = extension
            extension += 1
        staff.append(person)
    return staff


def case_scale(bench: Bench, counts, results=None, save=lambda: None) -> dict:
    """Each size's runs go into ``results`` (saved after each size)."""
    results = {} if results is None else results
    for count in counts:
        extra = bench.workdir / f"scale-{count}-vars.json"
        credentials = cache_dir() / "bench" / f"credentials-{count}"
        # The lab's CA, keys and admin key as they are now (a copy left by an
        # earlier bench may predate them); only the people differ, and their VPN
        # addresses, allocated anew in the larger pool below.
        shutil.rmtree(credentials, ignore_errors=True)
        shutil.copytree(CREDENTIALS, credentials, symlinks=True,
                        ignore=shutil.ignore_patterns("people", "archive", "memo",
                                                       "vpn-addresses.json"))
        extra.write_text(json.dumps({
            "teletreball_staff": generated_staff(count),
            "teletreball_credentials_dir": str(credentials),
            "teletreball_extension_range": {"first": 2000, "last": 2999},
            "teletreball_networks": {"servers": "10.89.10.0/24", "office_lan": "10.89.20.0/24",
                                     "vpn_pool": "10.92.0.0/21"},
        }), encoding="utf-8")
        converge = bench.playbook(f"scale-{count}-converge", "playbooks/site.yml",
                                  "-e", f"@{extra}")
        again = no_change(bench.playbook(f"scale-{count}-nochange", "playbooks/site.yml",
                                         "-e", f"@{extra}"), f"the no-change run at {count}")
        results[str(count)] = {"converge": converge, "nochange": again}
        save()
        print(f"==> scale {count}: done", file=sys.stderr, flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="latest",
                        help="name of the result, docs/bench/<label>.json (default: latest)")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, from {', '.join(CASES)} (default: all)")
    parser.add_argument("--scale", default="10,500", help="directory sizes of the scale case")
    parser.add_argument("--merge", action="store_true",
                        help="keep the cases of the label's earlier result, replace those run")
    parser.add_argument("--output", type=pathlib.Path,
                        help="JSON file to write (default: docs/bench/<label>.json)")
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    workdir = cache_dir() / "bench" / stamp
    workdir.mkdir(parents=True)
    bench = Bench(workdir)
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                              capture_output=True, text=True, check=False).stdout.strip()
    report = {"label": args.label, "date": stamp, "revision": revision,
              "cpus": os.cpu_count(), "load_before": os.getloadavg()[0], "cases": {}}
    output = args.output or ROOT / "docs" / "bench" / f"{args.label}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and output.exists():
        earlier = json.loads(output.read_text(encoding="utf-8"))
        report["cases"] = {k: v for k, v in earlier.get("cases", {}).items() if k not in cases}
        report["merged_from"] = f"{earlier['date']} ({earlier['revision']})"

    def save():  # after every case: an interrupted benchmark keeps what it measured
        output.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    try:
        for case in CASES:
            if case not in cases:
                continue
            if case == "scale":
                counts = [int(n) for n in args.scale.split(",")]
                report["cases"][case] = {}
                case_scale(bench, counts, report["cases"][case], save)
            else:
                report["cases"][case] = globals()[f"case_{case}"](bench)
            report["load_after_" + case] = os.getloadavg()[0]
            save()
            print(f"==> {case}: done", file=sys.stderr, flush=True)
    except BenchError as error:
        report["error"] = str(error)
        print(f"ERROR: {error}", file=sys.stderr)
    save()
    print(f"==> results: {output}", file=sys.stderr)
    if output.parent == ROOT / "docs" / "bench":
        subprocess.run([sys.executable, str(ROOT / "harness" / "bench_report.py")], check=True)
        print("==> tables: docs/performance.md (The benchmark)", file=sys.stderr)
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main())
