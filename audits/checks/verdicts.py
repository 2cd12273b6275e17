"""Each group's own status, the small-group rule applied to it, and the groups a
headline must name.

A group below the rule (power.py) keeps its figures, but a pass or a warning resting on
it is only `insufficient`: too few rows to tell either way. A figure whose whole
interval lies outside the policy stays `fail` whatever the group's size, since a breach
that large is shown even in few rows.
"""
from __future__ import annotations

from .policy import NO_EVIDENCE, STATUS_ORDER, distance_outside, worst_status
from .power import rows_for_rate_gap

JUDGED = ("fail", "warn")


def mark_insufficient(entries: dict[str, dict]) -> None:
    """Turn the pass / warn statuses of one small group's metric entries into insufficient."""
    for entry in entries.values():
        if entry.get("status") in ("pass", "warn"):
            entry["status"] = "insufficient"


def group_status(entries) -> str:
    """A group's status from its thresholded entries: fail, warn, pass or insufficient."""
    statuses = [e["status"] for e in entries if e["status"] not in ("info", "skipped")]
    status = worst_status(statuses)
    return "insufficient" if status == "inconclusive" else status


def outside_policy(per_group: dict[str, dict[str, dict]]) -> list[tuple[str, str, dict]]:
    """(group, metric, entry) for every group with a metric that fails or warns: the
    metric furthest outside its range; failing groups first, then by that distance."""
    found = []
    for group, entries in per_group.items():
        bad = {name: e for name, e in entries.items() if e.get("status") in JUDGED}
        if bad:
            name = max(bad, key=lambda n: (STATUS_ORDER[bad[n]["status"]],
                                           distance_outside(bad[n]["value"], bad[n]["threshold"])))
            found.append((group, name, bad[name]))
    return sorted(found, key=lambda item: (-STATUS_ORDER[item[2]["status"]],
                                           -distance_outside(item[2]["value"], item[2]["threshold"]), item[0]))


def insufficient_text(sizes: dict[str, tuple[int, int | None]], rule: str) -> str:
    """The sentence naming the groups below the rule, with their rows and the rows needed
    (None: no number is enough, the reference group itself being too small)."""
    if not sizes:
        return ""
    items = [f"{g} ({rows:,} rows" + (f", {need:,} needed)" if need else ")") for g, (rows, need) in sizes.items()]
    hopeless = all(need is None for _, need in sizes.values())
    return (f"Too few rows to decide: {', '.join(items)}"
            + ("; with the reference group this small, no number of rows would be enough" if hopeless else "")
            + f". Their figures are shown but decide no verdict unless their whole interval lies outside the"
              f" policy. The rule: {rule}.")


def deciding(entries: dict[str, dict]) -> dict[str, dict]:
    """The entries that can decide a verdict (not insufficient, skipped or inconclusive)."""
    return {g: e for g, e in entries.items() if e.get("status") not in NO_EVIDENCE}


def rate_rule(policy: dict, favourable: int, rows: int, rate: str) -> tuple[int | None, str] | None:
    """(rows a group needs, the rule in words) against a privileged group with `favourable`
    of `rows` rows; None without an SPD threshold in the policy (power.rows_for_rate_gap)."""
    threshold = policy["thresholds"].get("statistical_parity_difference")
    if not threshold:
        return None
    gap = min(abs(threshold["low"]), abs(threshold["high"]))
    reference = favourable / rows
    return rows_for_rate_gap(reference, rows, gap), (
        f"a group needs the rows a two-sided two-proportion z-test (alpha 0.05) needs to detect, with 80% power,"
        f" a {rate} gap of {gap:g} from the privileged group's {reference:.2f} ({rows:,} rows)")


def describe(group: str, entry: dict, reads: str, parity: float) -> str:
    """"c is disfavoured: it <reads> (95% CI ...; fail)": the direction by the side of parity."""
    direction = "favoured" if entry["value"] > parity else "disfavoured"
    if round(entry["value"] - parity, 2) == 0:
        direction = "level with the privileged group at two decimals"
    ci = f"95% CI {entry['ci_low']:.2f} to {entry['ci_high']:.2f}; " if entry["ci_low"] is not None else ""
    return f"{group} is {direction}: it {reads.format(v=entry['value'])} ({ci}{entry['status']})"
