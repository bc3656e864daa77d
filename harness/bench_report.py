"""Render the results of `make bench` (docs/bench/*.json) as Markdown tables in
docs/performance.md, between the lines `<!-- bench:begin -->` and
`<!-- bench:end -->`: one column per result file, so that figures before and
after a change sit side by side, measured the same way.

Usage: harness/bench_report.py [docs/bench/before.json docs/bench/after.json ...]
(default: every file of docs/bench/, oldest first).
"""

from __future__ import annotations

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def cell(run):
    """`seconds (tasks per host, changes)` of one run, or a dash."""
    if not run:
        return "–"
    tasks = sorted(set(run["tasks"].values()))
    spread = f"{tasks[0]}" if len(tasks) == 1 else f"{tasks[0]}–{tasks[-1]}"
    return f"{run['wall_s']:.0f} s ({spread} tasks/host, {sum(run['changed'].values())} changed)"


def rows(result):
    cases = result.get("cases", {})
    scale = cases.get("scale", {})
    out = {
        "1. no-change run of site.yml": cell(cases.get("nochange")),
        "2. onboarding one person": cell(cases.get("onboard")),
        "4. first converge of the lab": cell(cases.get("converge")),
        "6. no-change run over SSH": cell(cases.get("ssh")),
    }
    for count, runs in sorted(scale.items(), key=lambda item: int(item[0])):
        out[f"3. {count} people: converge"] = cell(runs.get("converge"))
        out[f"3. {count} people: no-change run"] = cell(runs.get("nochange"))
    counts = sorted(scale, key=int)
    if len(counts) >= 2 and all(scale[c].get("nochange") for c in counts):
        low, high = scale[counts[0]]["nochange"], scale[counts[-1]]["nochange"]
        out[f"3. ratio {counts[-1]} / {counts[0]} (no change)"] = (
            f"{high['wall_s'] / low['wall_s']:.2f}× "
            f"({'same' if high['tasks'] == low['tasks'] else 'different'} task counts)")
    return out


def roles(result):
    run = result.get("cases", {}).get("nochange") or {}
    return run.get("role_s", {})


def render(results):
    names = [r["label"] for r in results]
    lines = ["| Case | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    table = [rows(r) for r in results]
    keys = []
    for t in table:
        keys += [k for k in t if k not in keys]
    for key in sorted(keys, key=lambda k: (k.split(".")[0], keys.index(k))):
        lines.append(f"| {key} | " + " | ".join(t.get(key, "–") for t in table) + " |")
    lines += ["", "Seconds per role in the no-change run:", "",
              "| Role or play | " + " | ".join(names) + " |",
              "|---" * (len(names) + 1) + "|"]
    role_names = []
    for r in results:
        role_names += [k for k in roles(r) if k not in role_names]
    for role in role_names:
        lines.append(f"| {role} | " + " | ".join(
            f"{roles(r)[role]:.0f}" if role in roles(r) else "–" for r in results) + " |")
    lines += ["", "Runs: " + "; ".join(
        f"{r['label']}: {r['date']}, revision {r['revision']}, {r['cpus']} CPUs, "
        f"load {r['load_before']:.1f} at the start"
        + (f", **stopped: {r['error'].splitlines()[0]}**" if r.get("error") else "")
        for r in results)]
    return "\n".join(lines)


def main(argv):
    files = [pathlib.Path(a) for a in argv] or sorted(
        (ROOT / "docs" / "bench").glob("*.json"), key=lambda p: json.loads(p.read_text())["date"])
    results = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        sys.exit(f"{DOC} has no {BEGIN} ... {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render(results)}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
