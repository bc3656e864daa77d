"""Load: 50 concurrent calls from the carrier into the OAC queue, answered by
50 registered agents (one baresip process with 50 accounts, over TLS with
SRTP). Zero failed calls and media both ways on every call; set-up times and
Asterisk's CPU are recorded (docs/performance.md)."""

from __future__ import annotations

import statistics

from pbx_helpers import PBX, carrier_call, ctl, dial, now, queue_members
from teletreball_testinfra import wait_for

testinfra_hosts = ["podman://pbx"]

LOAD_AGENTS = [f"load{i:02d}" for i in range(1, 51)]


def asterisk_cpu_seconds():
    """CPU time (user + system) Asterisk has used so far."""
    fields = PBX.check_output("cat /proc/$(pidof -s asterisk)/stat").rsplit(")", 1)[1].split()
    ticks = int(PBX.check_output("getconf CLK_TCK"))
    return (int(fields[11]) + int(fields[12])) / ticks


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def test_fifty_concurrent_calls_are_answered_by_fifty_agents_with_media(host, measurement):
    assert ctl("load", "registered --count 50 --timeout 60").get("ok")
    logins = now("load")
    for user in LOAD_AGENTS:
        dial("load", user, "*61")
    wanted = {f"PJSIP/{u}" for u in LOAD_AGENTS}
    assert wait_for(lambda: wanted <= set(queue_members()), 60, 2), sorted(queue_members())
    ctl("load", f"wait --type CALL_CLOSED --count 50 --since {logins} --timeout 30", check=False)
    # The two named agents step aside: the 50 calls are for the 50 load agents.
    for user in ["agent1", "agent-2"]:
        dial("oac", user, "*63")
    try:
        since = now("load")
        cpu_before = asterisk_cpu_seconds()
        rc, result = carrier_call("938000001", calls=50, duration=20, timeout=240)
        cpu_used = asterisk_cpu_seconds() - cpu_before
    finally:
        for user in ["agent1", "agent-2"]:
            dial("oac", user, "*64")
        # The load agents log out again: the later tests see the OAC's two agents.
        for user in LOAD_AGENTS:
            dial("load", user, "*62")
    summary = result["summary"]
    assert rc == 0 and summary["answered"] == 50 and summary["failed"] == 0, summary
    assert summary["media_both_ways"] == 50, summary

    calls = [c for c in ctl("load", f"stats --since {since}")["calls"]
             if c.get("established_at") and c["direction"] == "incoming"]
    assert len(calls) == 50, f"{len(calls)} agent calls"
    assert len({c["aor"] for c in calls}) == 50, "an agent took two calls"
    assert all(c["media_both_ways"] and c["srtp"] for c in calls), [
        c for c in calls if not (c["media_both_ways"] and c["srtp"])]

    # Time to an agent: the carrier's originate to the agent's "established";
    # the containers share the host's clock. Calls are matched in order.
    start = min(c["originated_at"] for c in result["calls"])
    to_agent_ms = sorted((c["established_at"] - start) * 1000 for c in calls)
    answer_ms = summary["setup_ms"]
    measurement(
        f"pbx load: 50/50 calls answered, media both ways on 50/50 (SRTP on the agents' side); "
        f"PBX answer p50 {answer_ms['p50']:.0f} ms p95 {answer_ms['p95']:.0f} ms; "
        f"first call offered to agent established for all 50 within {to_agent_ms[-1]:.0f} ms "
        f"(median {statistics.median(to_agent_ms):.0f} ms, "
        f"p95 {percentile(to_agent_ms, 0.95):.0f} ms "
        f"after the first originate); Asterisk CPU {cpu_used:.1f} s over the 20 s calls")
