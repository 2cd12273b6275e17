"""Measurement: the demo's debiasing run through the platform, checked by the debiased
model's own audit (issue 16's "the debiased model's own audit agrees with the run's
after-figures").

Run from the repository root once the demo model is trained:
`python bench/debias_demo_verify.py [--method balancing]`. In the demo's organisation it
audits the demo model on the 448 held-out comments (group fairness, counterfactual with the
demo's fuzzed twins, subgroup AUC, automation bias), starts a debiasing run for the sexuality
terms (equalised odds) trained on the demo's 70 % training split, runs it in-process with its
two check audits (parent and debiased model on the measured rows), and prints every figure
the run and those audits both state, side by side, and the run's before/after figures.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401 - sets up Django first

from audits import demo  # noqa: E402
from audits.models import Audit, MitigationRun  # noqa: E402
from audits.services.audit_config import audit_config_build  # noqa: E402
from audits.services.audits import audit_create, audit_run  # noqa: E402
from audits.services.mitigation_verify import verification_rows  # noqa: E402
from audits.services.mitigations import mitigation_create, mitigation_run  # noqa: E402

CHECKS = ["group_fairness", "counterfactual", "subgroup_auc", "automation_bias"]


def _entry(entry: dict) -> str:
    return f"{entry['value']:+.3f} [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="balancing", choices=["adversarial", "balancing", "reweighing"])
    args = parser.parse_args()
    if not (demo.demo_folder() / "metrics.json").is_file():
        sys.exit("The demo model is not trained: run `make run` (or `manage.py demo`) first.")
    started = time.perf_counter()
    people = demo.demo_people_setup()
    organisation, user = people["organisation"], people["user"]
    model = demo.demo_model(organisation, user, demo.demo_folder())
    train, held = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    dataset = demo.demo_dataset(organisation, user, held)
    config = audit_config_build(dataset=dataset, checks=CHECKS, seed=0, explain=0,
                                counterfactual_dataset=demo.demo_twin(organisation, user, held),
                                counterfactual_id_column="rev_id")
    audit = audit_create(organisation=organisation, user=user, model=model, dataset=dataset, config=config,
                         enqueue=False)
    audit = audit_run(audit_id=audit.pk, inline=True)
    print(f"audit {audit.pk}: {audit.status} ({time.perf_counter() - started:.0f} s)", flush=True)
    training = demo.demo_dataset(organisation, user, train, filename=demo.TRAIN_FILE, name=demo.TRAIN_NAME)
    run = mitigation_create(audit=audit, user=user, method=args.method, attribute=demo.MITIGATION["attribute"],
                            options={"goal": "equalised_odds"}, enqueue=False, train_dataset=training)
    run = mitigation_run(run_id=run.pk, verify="inline")
    run = MitigationRun.objects.get(pk=run.pk)
    print(f"run {run.pk}: {run.status} {run.error or ''} ({time.perf_counter() - started:.0f} s)", flush=True)
    if run.status != MitigationRun.Status.DONE:
        sys.exit(1)
    result = run.result
    for part in ("before", "after"):
        figures = result[part]
        print(part + ": " + ", ".join(f"{name} {_entry(figures[name])}" for name in
                                      ("accuracy", "equal_opportunity_difference", "statistical_parity_difference")))
    flips = result["counterfactual_flip_rate"]
    print(f"flip rate (generated swaps): {_entry(flips['before'])} -> {_entry(flips['after'])}")
    print(f"retraining without a method: {result['no_mitigation_retrained']}")
    print(f"recommendation: {result['recommendation']['reason']}")
    before, after = (Audit.objects.get(pk=pk) for pk in (run.before_audit_id, run.after_audit_id))
    rows = verification_rows(result, after.report, before.report)
    print(f"the run's figures beside its check audits ({before.pk}, {after.pk}): "
          f"{sum(r['agrees'] for r in rows)} of {len(rows)} agree")
    for row in rows:
        print(f"  {row['side']} {row['figure']} {row['group'] or 'all'}: run {row['run']:+.6f}, "
              f"audit {row['audit']:+.6f}, difference {row['difference']:.1e}")


if __name__ == "__main__":
    main()
