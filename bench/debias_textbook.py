"""Measurement: adversarial debiasing on issue 16's textbook case, seed by seed.

Run from the repository root: `python bench/debias_textbook.py [--seeds 0 1 2 3 4]`.

For each seed: a tiny BERT deciding by the name's group (tests/audits/mitigation/textbook.py),
300 evaluation texts whose labels ignore the names, 600 training texts with half of one
group's favourable labels denied. The top layer trains on the cached lower one with the
options below. Printed per seed: the parent's |SPD| and accuracy, each swept weight's
|SPD|, accuracy, whether it collapsed and the epoch kept, retraining without a method,
and whether the issue's criterion holds (some non-collapsed weight at |SPD| <= 0.1 with
an accuracy not below retraining's). Figures are measurements, not assertions.

--per-epoch also prints, after each epoch of each adversarial fit, the predictor's
accuracy and |SPD| on the training rows (what the epoch selection sees) and on the
evaluation rows (which no training step sees): the diagnosis of how the game moves.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401 - sets up Django first
import numpy as np  # noqa: E402
import torch  # noqa: E402

from audits.mitigation import mitigation_compute, select  # noqa: E402
from audits.mitigation.evaluate import point_figures  # noqa: E402
from tests.audits.mitigation.textbook import evaluation_rows, make_name_model, training_rows  # noqa: E402

OPTIONS = {"unfreeze_layers": 1, "epochs": 20, "learning_rate": 0.003, "lr_decay": 0.3,
           "sweep": [0.03, 0.1, 0.3, 1.0, 3.0]}


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
        print(f"    weight {keeper.weight:g} epoch {keeper.epochs}: training rows accuracy {t['accuracy']:.3f}"
              f" |SPD| {t['fairness_gap']:.3f} favourable m {train[keeper.privileged].mean():.2f}"
              f" f {train[~keeper.privileged].mean():.2f}; evaluation rows accuracy {e['accuracy']:.3f}"
              f" |SPD| {e['fairness_gap']:.3f}", flush=True)
        _SCORE(keeper)

    select.EpochKeeper._score = scored


def one_seed(seed: int, work: Path, per_epoch: bool) -> bool:
    model = make_name_model(work / f"model{seed}", seed=seed)
    texts, labels, group = evaluation_rows(300, 5 + seed)
    if per_epoch:
        print_epochs(labels, group == "m")
    train_texts, train_labels, train_group = training_rows(600, 50 + seed)
    section = mitigation_compute(
        model_dir=model, texts=texts, labels=labels, group=group, privileged=group == "m", favourable_id=1,
        method="adversarial", options=OPTIONS, seed=seed, out_dir=work / f"out{seed}", resamples=100,
        attribute="gender", train_data={"texts": train_texts, "labels": train_labels, "group": train_group,
                                        "privileged": train_group == "m"}).section
    ref = section["no_mitigation_retrained"]
    print(f"seed {seed}: parent |SPD| {section['fairness_gap']['before']:.3f}, accuracy "
          f"{section['before']['accuracy']['value']:.3f}; retraining without a method |SPD| "
          f"{ref['fairness_gap']:.3f}, accuracy {ref['accuracy']:.3f}")
    met = False
    for entry in section["sweep"]:
        ok = not entry["collapsed"] and entry["fairness_gap"] <= 0.1 and entry["accuracy"] >= ref["accuracy"]
        met |= ok
        print(f"  weight {entry['adversary_weight']:g}: |SPD| {entry['fairness_gap']:.3f}, accuracy "
              f"{entry['accuracy']:.3f}{', COLLAPSED' if entry['collapsed'] else ''}, epoch kept "
              f"{entry['epoch_kept']}{'  <- meets the criterion' if ok else ''}")
    return met


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--adversary-l2", type=float, default=0.0, help="option adversary_l2")
    parser.add_argument("--per-epoch", action="store_true", help="print each epoch's figures (diagnosis)")
    args = parser.parse_args()
    OPTIONS["adversary_l2"] = args.adversary_l2

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "2")))
    with tempfile.TemporaryDirectory() as folder:
        met = [one_seed(seed, Path(folder), args.per_epoch) for seed in args.seeds]
    print(f"criterion met in {int(np.sum(met))} of {len(met)} seeds; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
