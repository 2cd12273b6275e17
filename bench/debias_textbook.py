"""Measurement: adversarial debiasing on issue 16's textbook case, seed by seed.

Run from the repository root: `python bench/debias_textbook.py [--seeds 0 1 2 3 4]`.

For each seed: a tiny BERT deciding by the name's group (tests/audits/mitigation/textbook.py),
300 evaluation texts whose labels ignore the names, 600 training texts with half of one
group's favourable labels denied (textbook.case_rows). Both layers train on the cached
embeddings, with textbook.OPTIONS (flags below change them). Printed per seed: the
parent's |SPD| and accuracy, retraining without a method, each swept weight's |SPD|,
accuracy, whether it collapsed and the epoch kept (0: where the continuation started),
whether the issue's criterion holds (textbook.criterion: some non-collapsed weight at
|SPD| <= 0.1 with an accuracy not below retraining's) and whether the gap falls with
the weight. Figures are measurements, not assertions.

--per-epoch also prints, after each epoch of each fit that chooses its epoch, the
predictor's accuracy and |SPD| on the rows the choice sees (the validation part of the
training rows) and on the evaluation rows (which no training step sees).
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

from audits.mitigation import mitigation_compute, select  # noqa: E402
from audits.mitigation.evaluate import point_figures  # noqa: E402
from tests.audits.mitigation.textbook import OPTIONS, case_rows, criterion, make_name_model  # noqa: E402

_SCORE = select.EpochKeeper._score


def print_epochs(labels: np.ndarray, privileged: np.ndarray) -> None:
    """Wrap the epoch selection's scoring to print each epoch's figures. The evaluation
    rows are the first rows of the run (the training dataset's rows follow them)."""
    def scored(keeper) -> None:
        with torch.no_grad():
            train = torch.cat([keeper.predictor.forward(keeper.rows[i:i + 256])
                               for i in range(0, len(keeper.rows), 256)]).argmax(1).numpy()
            evaluation = keeper.predictor.forward(torch.arange(len(labels))).argmax(1).numpy()
        t = point_figures(keeper.labels, train, 1, keeper.privileged, "demographic_parity")
        e = point_figures(labels, evaluation, 1, privileged, "demographic_parity")
        print(f"    weight {keeper.weight:g} epoch {keeper.epochs}: validation rows accuracy {t['accuracy']:.3f}"
              f" |SPD| {t['fairness_gap']:.3f} favourable m {train[keeper.privileged].mean():.2f}"
              f" f {train[~keeper.privileged].mean():.2f}; evaluation rows accuracy {e['accuracy']:.3f}"
              f" |SPD| {e['fairness_gap']:.3f}", flush=True)
        _SCORE(keeper)

    select.EpochKeeper._score = scored


def one_seed(seed: int, work: Path, per_epoch: bool) -> dict:
    model = make_name_model(work / f"model{seed}", seed=seed)
    (texts, labels, group, privileged), train_data = case_rows(seed)
    if per_epoch:
        print_epochs(labels, privileged)
    section = mitigation_compute(
        model_dir=model, texts=texts, labels=labels, group=group, privileged=privileged, favourable_id=1,
        method="adversarial", options=OPTIONS, seed=seed, out_dir=work / f"out{seed}", resamples=100,
        attribute="gender", train_data=train_data).section
    ref = section["no_mitigation_retrained"]
    print(f"seed {seed}: parent |SPD| {section['fairness_gap']['before']:.3f}, accuracy "
          f"{section['before']['accuracy']['value']:.3f}; retraining without a method |SPD| "
          f"{ref['fairness_gap']:.3f}, accuracy {ref['accuracy']:.3f} (epoch kept {ref.get('epoch_kept')}); "
          f"{section['trained']}", flush=True)
    result = criterion(section)
    for entry in section["sweep"]:
        ok = entry["adversary_weight"] in result["weights_meeting"]
        print(f"  weight {entry['adversary_weight']:g}: |SPD| {entry['fairness_gap']:.3f}, accuracy "
              f"{entry['accuracy']:.3f}{', COLLAPSED' if entry['collapsed'] else ''}, epoch kept "
              f"{entry['epoch_kept']}{'  <- meets the criterion' if ok else ''}", flush=True)
    print(f"  gap falls with the weight: {result['falls']} (largest rise {result['largest_rise']:.3f})", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--adversary-l2", type=float, default=0.0, help="option adversary_l2")
    parser.add_argument("--unfreeze", type=int, default=2, help="option unfreeze_layers (2: every layer)")
    parser.add_argument("--validation", type=float, default=0.2, help="option validation")
    parser.add_argument("--cold", action="store_true", help="option warm_start false: every weight from the parent")
    parser.add_argument("--per-epoch", action="store_true", help="print each epoch's figures (diagnosis)")
    args = parser.parse_args()
    OPTIONS.update(adversary_l2=args.adversary_l2, unfreeze_layers=args.unfreeze, validation=args.validation,
                   warm_start=not args.cold)
    print(f"options {OPTIONS}", flush=True)

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        results = [one_seed(seed, Path(folder), args.per_epoch) for seed in args.seeds]
    met, falls = sum(r["met"] for r in results), sum(r["falls"] for r in results)
    print(f"criterion met in {met} of {len(results)} seeds, gap falling with the weight in {falls}; {time.perf_counter() - wall:.0f} s wall,"
          f" {time.process_time() - cpu:.0f} CPU s; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
