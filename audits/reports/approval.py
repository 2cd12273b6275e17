"""What an approval means, written into the signed report beside the approver's comment.

An approval says "reviewed and accepted with these findings"; it never certifies that a
model is fair. When the verdict is `fail`, approving records acceptance of the failing
findings, which are listed one line each so the signed files say exactly what was accepted.
"""
from __future__ import annotations

from .formatting import check_title, fmt, fmt_interval, fmt_range, metric_label

MEANING = ("Reviewed and accepted with these findings: the approver has read this report and accepts it with "
           "the findings it states. An approval is not a certification that the model is fair.")
FAIL_MEANING = ("The verdict is fail: approving records acceptance of the failing findings listed here, as stated "
                "in this report; it does not say they were resolved.")


def failing_findings(report: dict) -> list[str]:
    """One line per failing figure (or errored check) of the report, in report order."""
    lines = []
    for check in report.get("checks") or []:
        title = check_title(str(check.get("id")))
        where = f"{title} ({check['attribute']})" if check.get("attribute") else title
        if check.get("status") == "error":
            lines.append(f"{where}: could not run: {check.get('message') or 'no reason given'}")
            continue
        for name, metric in (check.get("metrics") or {}).items():
            if isinstance(metric, dict) and metric.get("status") == "fail":
                lines.append(f"{where}: {metric_label(name)} {fmt(metric.get('value'), name)} "
                             f"{fmt_interval(metric.get('ci_low'), metric.get('ci_high'))}, acceptable "
                             f"{fmt_range(metric.get('threshold'), name)}")
    return lines


def approval_block(*, report: dict, comment: str) -> dict:
    """The `approval` entry of a signed report's `signed` block."""
    verdict = (report.get("summary") or {}).get("status", "")
    block = {"decision": "approved", "comment": comment, "verdict": verdict, "meaning": MEANING}
    if verdict == "fail":
        block["meaning"] = f"{MEANING} {FAIL_MEANING}"
        block["accepted_failing_findings"] = failing_findings(report)
    return block
