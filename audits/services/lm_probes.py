"""Language-model probes: an audit of a masked or causal LM on a dataset of sentence pairs.

Such an audit has no labels, predictions or groups: the model scores each pair's two
sentences (runtime.score_pairs), and `stereotype_pairs` judges how often it prefers the
more-stereotypical one. It runs through the same audit record, stages, policy and report
files as a classifier audit; only what is read and checked differs. A language model
cannot run a classifier check, nor a classifier the probes: both are refused with what
to do instead, before anything is queued.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone

import auditplatform
import runtime
from audits.checks import CheckContext
from audits.checks.context import SentencePairs
from audits.checks.policy import DEFAULT_POLICY
from audits.checks.stereotype_pairs import CHECK_ID, METRIC
from audits.errors import BadInput
from audits.models import Audit, Dataset, ModelArtifact, Organisation, Policy
from audits.reports import report_build, report_files
from audits.services.audit_config import seed_validate
from audits.services.datasets import dataset_frame
from audits.services.job_claims import job_is_ours
from audits.services.jobs import job_fail, job_progress
from audits.services.manifest import audit_manifest
from audits.services.model_prompts import model_kind as prompts_model_kind
from audits.services.model_uploads import model_local_folder
from audits.services.pairs_mapping import is_pairs_mapping, pairs_frame, pairs_mapping_validate
from audits.services.policies import policy_new_version
from audits.services.stored import stored_write
from runtime.lm_scores import CAUSAL_LM

LANGUAGE_MODEL_CHECKS = (CHECK_ID,)
KIND_NAMES = {"masked_lm": "masked language model", "causal_lm": "causal language model"}


def model_kind(model: ModelArtifact) -> str:
    """"masked_lm" / "causal_lm" for a language model stored without labels (no prompt),
    else "classifier" (a prompted causal LM is a classifier: it has labels)."""
    kind = prompts_model_kind(model=model)
    return kind if kind in KIND_NAMES else "classifier"


def probe_config_validate(*, model: ModelArtifact, dataset: Dataset, config: dict) -> dict | None:
    """The settings of a probe audit, None for a classifier audit (checked elsewhere), or
    BadInput when the model, the dataset and the checks do not go together."""
    kind = model_kind(model)
    checks = [str(c) for c in config.get("checks") or []]
    pairs = is_pairs_mapping(config) or is_pairs_mapping(dataset.mapping)
    if kind == "classifier" and CHECK_ID not in checks and not pairs:
        return None
    if kind == "classifier":
        raise BadInput(f"{model.name} is a classifier ({model.architecture}): {CHECK_ID} scores sentences with a "
                       "language model; upload its masked or causal language model (*ForMaskedLM, *ForCausalLM) "
                       "without a prompt to probe it, or run the classifier checks on a labelled dataset.")
    if checks in (["all"], []) and pairs:
        checks = [CHECK_ID]
    others = [c for c in checks if c not in LANGUAGE_MODEL_CHECKS]
    if others:
        raise BadInput(f"{model.name} is a {KIND_NAMES[kind]} ({model.architecture}) without a classification "
                       f"head: it can run {CHECK_ID} only, not {', '.join(others)}. To audit it as a classifier, "
                       "upload it with a prompt template and a verbalizer per label (causal LMs) or fine-tune it "
                       "for sequence classification.")
    if not pairs:
        raise BadInput(f"{dataset.original_filename}: {CHECK_ID} needs a dataset of sentence pairs: map its "
                       "more- and less-stereotypical sentence columns (and optionally bias type and direction).")
    source = config if is_pairs_mapping(config) else dataset.mapping
    mapping = pairs_mapping_validate(frame=dataset_frame(dataset=dataset), mapping=source,
                                     filename=dataset.original_filename)
    seed = seed_validate(config.get("seed", 0))
    policy_with_metric(organisation=dataset.organisation, metric=METRIC)
    return {**mapping, "checks": [CHECK_ID], "seed": seed, "explain": 0}


def policy_with_metric(*, organisation: Organisation, metric: str, name: str = "default") -> None:
    """An organisation whose current policy predates `metric` gets a new version with the
    shipped default threshold added (the earlier versions stay as they were)."""
    latest = Policy.objects.filter(organisation=organisation, name=name).order_by("-version").first()
    if latest is not None and metric not in (latest.thresholds or {}):
        thresholds = {**copy.deepcopy(latest.thresholds), metric: dict(DEFAULT_POLICY["thresholds"][metric])}
        policy_new_version(organisation=organisation, user=None, thresholds=thresholds, name=name)


def is_probe_audit(audit: Audit) -> bool:
    return is_pairs_mapping(audit.config)


def probe_inputs(*, audit: Audit, progress=None) -> tuple[dict, SentencePairs]:
    """How the model ran (report.json's runtime), and the audit's pairs with its scores of them."""
    pairs = pairs_frame(frame=dataset_frame(dataset=audit.dataset), mapping=audit.config)
    loaded = runtime.load_model(model_local_folder(model=audit.model))
    scores = runtime.score_pairs(loaded, pairs["more"].tolist(), pairs["less"].tolist(), progress=progress)
    bad = ~(np.isfinite(scores.more.total) & np.isfinite(scores.less.total))
    if bad.any():
        rows = ", ".join(str(r) for r in np.flatnonzero(bad)[:5])
        raise BadInput(f"The model's scores are NaN or infinite for {int(bad.sum())} pairs (0-based rows {rows}): "
                       "the model is broken, so nothing it scores can be audited.")
    causal = scores.kind == CAUSAL_LM
    sentence_pairs = SentencePairs(
        more=pairs["more"].tolist(), less=pairs["less"].tolist(), bias_type=pairs["bias_type"].to_numpy(),
        direction=pairs["direction"].to_numpy(), more_score=scores.more.total, less_score=scores.less.total,
        kind=scores.kind, more_mean=scores.more.mean if causal else None,
        less_mean=scores.less.mean if causal else None)
    facts = {"device": str(next(loaded.model.parameters()).device),
             "dtype": str(next(loaded.model.parameters()).dtype).removeprefix("torch."),
             "max_length": loaded.max_length, "truncated_rows": scores.truncated, "batching": "batched",
             "batching_note": _batching_note(loaded, pairs, scores), "scoring": scores.kind}
    return facts, sentence_pairs


def _batching_note(loaded: runtime.LoadedModel, pairs: pd.DataFrame, scores, checked: int = 3) -> str:
    """The first pairs scored again one at a time (no padding): how far the batched scores are."""
    k = min(checked, len(pairs))
    gap = 0.0
    for i in range(k):
        alone = runtime.score_pairs(loaded, [pairs["more"].iloc[i]], [pairs["less"].iloc[i]])
        gap = max(gap, abs(alone.more.total[0] - scores.more.total[i]), abs(alone.less.total[0] - scores.less.total[i]))
    return f"the first {k} pairs scored again one at a time differ by at most {gap:.1e}"


def probe_context(*, audit: Audit, pairs: SentencePairs, resamples: int) -> CheckContext:
    empty = np.zeros(0)
    return CheckContext(y_true=empty.astype(bool), y_pred=empty.astype(bool), prob=empty, groups=pd.DataFrame(),
                        privileged={}, policy=audit.policy.as_dict(), seed=int(audit.config["seed"]),
                        resamples=resamples, min_group_rows=settings.MIN_GROUP_ROWS, pairs=pairs)


def pairs_predictions(pairs: SentencePairs) -> pd.DataFrame:
    """predictions.csv of a probe audit: per pair, which sentence the model prefers
    ("more", "less" or "tie") and the probability of the more-stereotypical one of the
    two, sigmoid(score_more - score_less); then the pair's scores. No label: it has none."""
    gap = pairs.more_score - pairs.less_score
    frame = pd.DataFrame({
        "row": np.arange(len(pairs.more)), "label": "",
        "prediction": np.where(gap > 0, "more", np.where(gap < 0, "less", "tie")),
        "probability": 1.0 / (1.0 + np.exp(-gap)),
        "bias_type": pairs.bias_type, "direction": pairs.direction,
        "more_score": pairs.more_score, "less_score": pairs.less_score,
    })
    if pairs.more_mean is not None:
        frame["more_mean_log_probability"] = pairs.more_mean
        frame["less_mean_log_probability"] = pairs.less_mean
    return frame


def probe_finish(*, audit: Audit, checks: list[dict], facts: dict, pairs: SentencePairs,
                 attempt: int | None) -> None:
    """The report stage of a probe audit: the report files, then the audit marked done."""
    job_progress(job=Audit, job_id=audit.pk, stage="report")
    policy = audit.policy.as_dict()
    audit.status = Audit.Status.DONE
    audit.finished_at = timezone.now()
    document = report_build(audit=audit, checks=checks, policy=policy, platform_version=auditplatform.__version__,
                            manifest=audit_manifest(audit=audit, policy=policy), runtime_facts=facts)
    for name, content in report_files(document, pairs_predictions(pairs)).items():
        stored_write(f"{audit.artifacts_prefix}/{name}", content)
    job_is_ours(job=Audit, job_id=audit.pk, attempt=attempt).update(
        status=Audit.Status.DONE, finished_at=audit.finished_at, report=document,
        verdict=document["summary"]["status"], stage="done", progress_done=1, progress_total=1)


def probe_stages(audit: Audit, *, attempt: int, resamples: int, run_checks) -> None:
    """Score the pairs, run the probe check, write the report; failures mark the audit failed."""
    def progress(**kwargs):
        job_progress(job=Audit, job_id=audit.pk, **kwargs)

    try:
        progress(stage="predict")
        facts, pairs = probe_inputs(audit=audit, progress=lambda d, t: progress(stage="predict", done=d, total=t))
        ctx = probe_context(audit=audit, pairs=pairs, resamples=resamples)
        progress(stage="checks", total=1)
        checks = run_checks(ctx, audit.config["checks"])
        probe_finish(audit=audit, checks=checks, facts=facts, pairs=pairs, attempt=attempt)
    except Exception as exc:
        job_fail(job=Audit, job_id=audit.pk, exc=exc, attempt=attempt)
