"""Measurement: debiasing the demo model for the sexuality terms, trained on its training split.

Run from the repository root once the demo model is trained (var/demo-model):
`python bench/debias_demo.py [--methods adversarial balancing] [--unfreeze 0]`.

The demo's 70 % training split (audits.demo.demo_split) is the training dataset; every
figure is measured on the 30 % held-out comments the demo audits, grouped by the
sexuality terms as the audit groups them (identity terms, "none" privileged). Non-toxic
is the favourable label, so the false-positive-rate gap of the toxicity classifier (harmless
comments flagged toxic) is the equal-opportunity difference of the favourable label.
Printed per method, before -> after with intervals: accuracy, that gap (the equalised-odds
side), and the counterfactual flip rate on the demo's identity-swapped twins
(demo/wiki_toxicity_fuzzed.csv, the held-out comments whose twin differs); and retraining
the same layers without a method. Figures are measurements, not assertions.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401 - sets up Django first
import numpy as np  # noqa: E402
import torch  # noqa: E402
from django.conf import settings  # noqa: E402

import runtime  # noqa: E402
from audits.demo import FUZZED_CSV, LABEL, MAPPING, MITIGATION, TEXT, demo_split, load_frame  # noqa: E402
from audits.identity import default_lexicon  # noqa: E402
from audits.mitigation import mitigation_compute  # noqa: E402
from audits.mitigation.twins import flip_rate  # noqa: E402
from audits.services.datasets import dataset_groups  # noqa: E402

ATTRIBUTE = MITIGATION["attribute"]


def rows(frame, label2id: dict) -> dict:
    """mitigation_compute's inputs for a demo frame, grouped as the audit groups them."""
    groups, privileged = dataset_groups(frame=frame, mapping=MAPPING, lexicon=default_lexicon())
    group = groups[ATTRIBUTE].astype(str)
    return {"texts": frame[TEXT].astype(str).tolist(),
            "labels": frame[LABEL].astype(str).map(label2id).to_numpy(dtype=np.int64),
            "group": group.to_numpy(dtype=object), "privileged": group.isin(privileged[ATTRIBUTE]).to_numpy()}


def twins_of(held) -> tuple[list[str], np.ndarray]:
    """The demo's fuzzed twins of the held-out comments that differ from them, and their rows."""
    fuzzed = load_frame(FUZZED_CSV).set_index("rev_id")[TEXT]
    twin = fuzzed.reindex(held["rev_id"]).to_numpy()
    own = held[TEXT].to_numpy()
    owner = np.flatnonzero([isinstance(t, str) and t != o for t, o in zip(twin, own, strict=True)])
    return [str(twin[i]) for i in owner], owner


def interval(entry: dict) -> str:
    if entry.get("value") is None:
        return "n/a"
    return f"{entry['value']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}]"


def one_method(method: str, model: Path, data: dict, options: dict, out: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    outcome = mitigation_compute(model_dir=model, **data["audit"], favourable_id=data["fav"], method=method,
                                 options=options, seed=0, out_dir=out / method, resamples=1000,
                                 attribute=ATTRIBUTE, train_data=data["train"])
    section = outcome.section
    print(f"\n{method}: {section['trained']}; {time.perf_counter() - started:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} CPU s; evaluated on {section['evaluated_on']}", flush=True)
    for part in ("before", "after"):
        figures = section[part]
        print(f"  {part}: accuracy {interval(figures['accuracy'])}, FPR gap (|EOD| of non-toxic) "
              f"{interval(figures['equal_opportunity_difference'])}", flush=True)
    texts, owner = data["twins"]
    if outcome.model_folder is not None and len(owner):
        rng = np.random.default_rng(0)
        rows = np.arange(len(owner))
        before = flip_rate(rows, len(owner), data["parent_pred"][owner], data["parent_twins"], 1000, rng)
        saved = runtime.load_model(outcome.model_folder)
        after = flip_rate(rows, len(owner), outcome.after_predictions[owner],
                          runtime.predict_proba(saved, texts).argmax(1), 1000, rng)
        runtime.evict(outcome.model_folder)
        print(f"  flip rate on the demo's twins ({len(owner)}): before {interval(before)}, after {interval(after)}")
    ref = section["no_mitigation_retrained"]
    print(f"  retraining without a method: accuracy {ref['accuracy']:.3f}, FPR gap "
          f"{abs(ref['equal_opportunity_difference']):.3f}, equalised-odds gap {ref['fairness_gap']:.3f}")
    for row in section["comparison"]:
        print(f"  comparison {row['method']} {row.get('adversary_weight', '')}: accuracy {row['accuracy']:.3f}, "
              f"gap {row['fairness_gap']:.3f}{' COLLAPSED' if row['collapsed'] else ''}")
    for entry in section["sweep"]:
        print(f"  sweep {entry['adversary_weight']:g}: accuracy {entry['accuracy']:.3f}, FPR gap "
              f"{abs(entry['equal_opportunity_difference']):.3f}, epoch kept {entry['epoch_kept']}")
    print(f"  recommendation: {section['recommendation']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", nargs="+", default=["adversarial", "balancing"])
    parser.add_argument("--unfreeze", type=int, default=None, help="option unfreeze_layers (default: the demo's)")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    model = Path(settings.VAR_DIR) / "demo-model"
    loaded = runtime.load_model(model)
    label2id = {v: k for k, v in loaded.model.config.id2label.items()}
    train_frame, held = demo_split(load_frame())
    audit = rows(held, label2id)
    texts, owner = twins_of(held)
    data = {"audit": audit, "train": rows(train_frame, label2id), "fav": int(label2id[MAPPING["favorable_label"]]),
            "parent_pred": runtime.predict_proba(loaded, audit["texts"]).argmax(1), "twins": (texts, owner),
            "parent_twins": runtime.predict_proba(loaded, texts).argmax(1)}
    options = dict(MITIGATION["options"])
    options.update({k: v for k, v in (("unfreeze_layers", args.unfreeze), ("epochs", args.epochs)) if v is not None})
    print(f"held-out {len(held)} rows ({int((~audit['privileged']).sum())} with {ATTRIBUTE} terms), training "
          f"{len(train_frame)} ({int((~data['train']['privileged']).sum())}); options {options}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for method in args.methods:
            one_method(method, model, data, options, Path(folder))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
