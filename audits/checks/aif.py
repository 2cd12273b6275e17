"""AIF360, imported once and quietly, and the two-group datasets our checks give it.

At import AIF360 logs a root-level warning for every optional backend it lacks
(TensorFlow, inFairness, ...); none is used here, and the noise would reach the CLI's
stderr and every worker log.
"""
from __future__ import annotations

import logging
import warnings
from functools import cache

import numpy as np
import pandas as pd


@cache
def _aif360():
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.datasets import BinaryLabelDataset
            from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric
    finally:
        logging.disable(previous)
    return BinaryLabelDataset, BinaryLabelDatasetMetric, ClassificationMetric


GROUPS = {"unprivileged_groups": [{"priv": 0.0}], "privileged_groups": [{"priv": 1.0}]}


def binary_dataset(labels, is_priv):
    """A BinaryLabelDataset with favourable label 1 and one protected column `priv`."""
    dataset_cls, _, _ = _aif360()
    frame = pd.DataFrame({"label": np.asarray(labels, dtype=float), "priv": np.asarray(is_priv, dtype=float)})
    return dataset_cls(df=frame, label_names=["label"], protected_attribute_names=["priv"],
                       favorable_label=1.0, unfavorable_label=0.0)


def classification_metric(y_true, y_pred, is_priv):
    truth = binary_dataset(y_true, is_priv)
    pred = truth.copy(deepcopy=True)
    pred.labels = np.asarray(y_pred, dtype=float).reshape(-1, 1)
    return _aif360()[2](truth, pred, **GROUPS)


def label_metric(y_true, is_priv):
    return _aif360()[1](binary_dataset(y_true, is_priv), **GROUPS)
