"""Measurement: the demo model audited beside its compressed variants, as issue 17 asks.

Run from the repository root after the demo model is trained (`make run` or `manage.py
demo` builds var/demo-model): `python bench/compress_demo.py [--recipes int8,prune:0.5,distil:3]
[--rows N] [--checks group_fairness,subgroup_auc,counterfactual]`.

It registers, in the demo's organisation, the demo model, its held-out comments (all 448,
or a seeded sample of N stratified by label and identity mention), their identity-swapped
twins (demo/wiki_toxicity_fuzzed.csv) and the demo's 70 % training split as the training
dataset for `distil`; runs one audit with the recipes in-process, as the worker would; and
prints the comparison: size, parameters, texts/s, accuracy and agreement with the parent,
the verdict, and the identity-term figures that moved most with their intervals. The audit
stays in the database: `make run` then shows it at /audits/<id>/compression/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401 - sets up Django first

from audits import demo  # noqa: E402
from audits.models import Audit  # noqa: E402
from audits.services.audit_config import audit_config_build  # noqa: E402
from audits.services.audits import audit_create, audit_run  # noqa: E402

IDENTITY_CHECKS = ("group_fairness", "subgroup_auc", "counterfactual")


def held_rows(n: int | None):
    """The demo's held-out rows, or a seeded sample of n stratified as the split is."""
    _, held = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    if not n or n >= len(held):
        return held
    strata = held[demo.LABEL].astype(str) + demo.mentions_identity(held[demo.TEXT]).astype(str)
    share = n / len(held)
    return held.groupby(strata, group_keys=False).apply(
        lambda g: g.sample(n=max(1, round(len(g) * share)), random_state=0)).sort_index()


def make_audit(recipes: str, rows: int | None, checks: list[str]) -> Audit:
    people = demo.demo_people_setup()
    organisation, user = people["organisation"], people["user"]
    model = demo.demo_model(organisation, user, demo.demo_folder())
    held = held_rows(rows)
    dataset = demo.demo_dataset(organisation, user, held)
    twin = demo.demo_twin(organisation, user, held)
    train, _ = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    train_dataset = demo.demo_dataset(organisation, user, train, filename=demo.TRAIN_FILE, name=demo.TRAIN_NAME)
    config = audit_config_build(dataset=dataset, checks=checks, seed=0, explain=0, counterfactual_dataset=twin,
                                counterfactual_id_column="rev_id", compress=recipes, train_dataset=train_dataset)
    return audit_create(organisation=organisation, user=user, model=model, dataset=dataset, config=config,
                        enqueue=False)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:+.3f}" if isinstance(value, float) else str(value)


def print_variant(variant: dict, parent_checks: list[dict]) -> None:
    if variant.get("status") != "done":
        print(f"\n{variant['recipe']}: {variant.get('status')} - {variant.get('error')}")
        return
    acc, agree = variant["accuracy"], variant["agreement_with_parent"]
    print(f"\n{variant['recipe']}: size {variant['size_bytes'] / 1e6:.1f} MB, parameters {variant['parameters']:,} "
          f"(non-zero {variant['nonzero_parameters']:,}), {variant['texts_per_second']:.1f} texts/s, "
          f"accuracy {acc['value']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}] "
          f"(change {_fmt(variant['accuracy_change'])}), agreement {agree['value']:.1%} "
          f"[{agree['ci_low']:.1%}, {agree['ci_high']:.1%}]")
    print(f"  verdict: {variant['verdict'].get('text') or variant['verdict']}")
    parent = {(c.get("id"), c.get("attribute")): c for c in parent_checks}
    print("  identity-term figures (figure | attribute/group | parent -> variant [95 % interval] | change | status):")
    for line in identity_rows(variant["checks"], parent):
        print("  " + line)
    costly = [f"{a}={g} {f['disagreement']:.1%} [{f['disagreement_ci_low']:.1%}, {f['disagreement_ci_high']:.1%}]"
              for a, groups in variant["disagreement_by_group"].items() for g, f in groups.items()
              if not f["insufficient"] and f["disagreement"] is not None]
    print("  disagreement with the parent by group: " + "; ".join(costly))


# The identity-term figures issue 17 asks for, per check: (metric, where it lives).
FAIRNESS = ("statistical_parity_difference", "equal_opportunity_difference", "false_positive_rate_difference")
AUCS = ("subgroup_auc_gap", "bpsn_auc_gap", "bnsp_auc_gap")


def _line(name: str, where: str, old, entry_value, low, high, status: str) -> str:
    interval = "" if low is None or high is None else f" [{low:+.3f}, {high:+.3f}]"
    change = entry_value - old if isinstance(old, float) and isinstance(entry_value, float) else None
    return f"{name} | {where} | {_fmt(old)} -> {_fmt(entry_value)}{interval} | {_fmt(change)} | {status}"


def identity_rows(checks: list[dict], parent: dict) -> list[str]:
    rows = []
    for check in checks:
        key = (check.get("id"), check.get("attribute"))
        status = f"{check.get('parent_status')} -> {check.get('status')}"
        metrics = check.get("metrics") or {}
        if check.get("id") == "group_fairness":
            for name in FAIRNESS:
                if isinstance(metrics.get(name), dict) and metrics[name].get("value") is not None:
                    m = metrics[name]
                    rows.append(_line(name, check.get("attribute"), m.get("parent_value"), m.get("value"),
                                      m.get("ci_low"), m.get("ci_high"), status))
        elif check.get("id") == "counterfactual":
            m = metrics.get("counterfactual_flip_rate")
            if isinstance(m, dict) and m.get("value") is not None:
                rows.append(_line("counterfactual_flip_rate", check.get("attribute"), m.get("parent_value"),
                                  m.get("value"), m.get("ci_low"), m.get("ci_high"), status))
        elif check.get("id") == "subgroup_auc":
            before = (parent.get(key) or {}).get("groups") or {}
            for group, figures in (check.get("groups") or {}).items():
                if not isinstance(figures, dict) or "subgroup_auc_gap" not in figures:
                    continue
                for name in AUCS:
                    old = (before.get(group) or {}).get(name)
                    rows.append(_line(name, f"{check.get('attribute')}={group} ({figures.get('count')})", old,
                                      figures.get(name), figures.get(f"{name}_ci_low"),
                                      figures.get(f"{name}_ci_high"),
                                      f"{(before.get(group) or {}).get('status')} -> {figures.get('status')}"))
    return rows


def print_report(audit: Audit) -> None:
    section = audit.report["compression"]
    parent = section["parent"]
    acc = parent["accuracy"]
    print(f"parent: size {parent['size_bytes'] / 1e6:.1f} MB, parameters {parent['parameters']:,}, "
          f"{parent['texts_per_second']:.1f} texts/s, accuracy {acc['value']:.3f} "
          f"[{acc['ci_low']:.3f}, {acc['ci_high']:.3f}] on {acc.get('n')} rows, status {parent['status']}")
    for variant in section["variants"]:
        print_variant(variant, audit.report.get("checks") or [])
    print(f"\nfast path: {section['fast_path']['reason']}")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="int8,prune:0.5,distil:3")
    parser.add_argument("--rows", type=int, default=0, help="0: all held-out rows")
    parser.add_argument("--checks", default=",".join(IDENTITY_CHECKS))
    parser.add_argument("--audit", type=int, default=0, help="print the comparison of an audit already run")
    args = parser.parse_args()
    if args.audit:
        print_report(Audit.objects.get(pk=args.audit))
        return
    if not (demo.demo_folder() / "metrics.json").is_file():
        sys.exit("The demo model is not trained: run `make run` (or `manage.py demo`) first.")
    started = time.perf_counter()
    audit = make_audit(args.recipes, args.rows or None, [c for c in args.checks.split(",") if c])
    audit = audit_run(audit_id=audit.pk, inline=True)
    print(f"audit {audit.pk}: {audit.status} in {time.perf_counter() - started:.0f} s {audit.error or ''}")
    if audit.status != Audit.Status.DONE:
        sys.exit(1)
    print_report(audit)

if __name__ == "__main__":
    main()
