"""Hostile models and tables (tests/hostile.py generates them) against the contract of bad
input: a clear refusal, one line on stderr with no traceback, no server folder and no raw
control character, nothing stored, and never a `pass` verdict; on the web and API path
(the services), the same refusals and no audit that passes."""
from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files import File
from django.core.management import call_command

from audits.errors import BadInput
from audits.models import Audit, Dataset, ModelArtifact, Organisation
from audits.services.audits import audit_create, audit_run
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.model_uploads import model_upload
from tests.factories import zip_folder
from tests.hostile import MODEL_CLASSES, TABLE_CLASSES, hostile_name, hostile_table, people_frame

SEEDS = (0, 1)
ROOT = Path(__file__).resolve().parents[3]
MAPPING_ARGS = ("--text-column", "text", "--label-column", "label", "--protected", "gender",
                "--privileged", "gender=male", "--favorable-label", "False")
# What each model class's refusal says.
MODEL_MESSAGES = {
    "nan_weights": "weights hold NaN or infinite values",
    "inf_weights": "weights hold NaN or infinite values",
    "overflowing_outputs": "outputs on plain sentences are NaN or infinite",
    "vocabulary_past_embeddings": "embedding matrix has only",
    "special_ids_past_embeddings": "embedding matrix has only",
    "more_labels_than_the_dataset": "labels ('False', 'True') but the model has",
    "one_label": "cannot produce the dataset label",
    "constant_predictions": "every row the same probabilities",
}


def run_cli(model: Path, dataset: Path, out: Path, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "--model", str(model), "--dataset", str(dataset), *MAPPING_ARGS,
                     "--out", str(out), *extra, stdout=io.StringIO(), stderr=err)
    return exit_info.value.code, err.getvalue()


def escaped(name: str) -> str:
    return "".join(
        (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        if unicodedata.category(c) in ("Cc", "Cf") else c for c in name)


def assert_one_clear_line(err: str, *fragments: str) -> str:
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in line, line
    assert not [c for c in line if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")], line
    for folder in ("model-upload-", "model-register-", "dataset-upload-", str(settings.MEDIA_ROOT)):
        assert folder not in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def assert_nothing_stored(out: Path) -> None:
    assert not ModelArtifact.objects.exists() and not Dataset.objects.exists() and not Audit.objects.exists()
    assert not Organisation.objects.filter(name="cli").exists()
    for root in (Path(settings.MEDIA_ROOT), Path(settings.MODEL_CACHE_DIR)):
        assert not [p for p in root.rglob("*") if p.is_file()] if root.exists() else True, root
    assert not out.exists()


@pytest.fixture
def people_csv(tmp_path) -> Path:
    path = tmp_path / "people.csv"
    people_frame(np.random.default_rng(7)).to_csv(path, index=False)
    return path


@pytest.mark.django_db
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(MODEL_CLASSES))
def test_cli_refuses_each_hostile_model(kind, seed, tmp_path, people_csv):
    rng = np.random.default_rng(seed)
    build, _ = MODEL_CLASSES[kind]
    folder = build(tmp_path / hostile_name(rng, "model", ""), rng)
    model = folder
    if rng.random() < 0.5:  # half as an archive, half as a folder
        model = tmp_path / hostile_name(rng, "model", ".zip")
        model.write_bytes(zip_folder(folder))
    code, err = run_cli(model, people_csv, tmp_path / "out")
    assert code == 2
    assert_one_clear_line(err, MODEL_MESSAGES[kind])
    assert_nothing_stored(tmp_path / "out")


@pytest.mark.django_db
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", sorted(TABLE_CLASSES))
def test_cli_refuses_each_hostile_table(kind, seed, tmp_path, tiny_model_dir):
    path, overrides = hostile_table(kind, tmp_path / "data", np.random.default_rng(seed))
    for name, value in overrides.items():
        setattr(settings, name, value)
    code, err = run_cli(tiny_model_dir, path, tmp_path / "out")
    assert code == 2
    assert_one_clear_line(err, escaped(path.name))
    assert_nothing_stored(tmp_path / "out")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(MODEL_CLASSES))
def test_services_refuse_each_hostile_model_and_no_audit_passes(kind, tmp_path, org, user, people_csv):
    """The web and the API call these services: the same refusal, at the same stage."""
    rng = np.random.default_rng(3)
    build, stage = MODEL_CLASSES[kind]
    archive = File(io.BytesIO(zip_folder(build(tmp_path / "m", rng))), name="m.zip")
    if stage == "upload":
        with pytest.raises(BadInput, match=MODEL_MESSAGES[kind].replace("(", r"\(").replace(")", r"\)")):
            model_upload(organisation=org, user=user, name="m", files=[archive])
        assert not ModelArtifact.objects.exists()
        return
    model = model_upload(organisation=org, user=user, name="m", files=[archive])
    with people_csv.open("rb") as handle:
        dataset = dataset_upload(organisation=org, user=user, name="p", uploaded_file=File(handle, name="p.csv"))
    mapping = {"text_column": "text", "label_column": "label", "favorable_label": "False",
               "protected": {"gender": ["male"]}}
    dataset_map(dataset=dataset, mapping=mapping)
    if stage == "create":
        with pytest.raises(BadInput, match=MODEL_MESSAGES[kind].replace("(", r"\(").replace(")", r"\)")):
            audit_create(organisation=org, user=user, model=model, dataset=dataset, config=mapping, enqueue=False)
        assert not Audit.objects.exists()
        return
    audit = audit_create(organisation=org, user=user, model=model, dataset=dataset, config=mapping, enqueue=False)
    audit = audit_run(audit_id=audit.pk, inline=True)
    assert audit.status == Audit.Status.FAILED and audit.verdict != "pass"
    assert MODEL_MESSAGES[kind] in audit.error and audit.report is None


@pytest.mark.django_db
def test_control_characters_in_cells_are_removed_and_the_audit_runs(tmp_path, tiny_model_dir):
    frame = people_frame(np.random.default_rng(2))
    frame.loc[3, "text"] = "null\x00 byte in the middle"
    frame.loc[8, "text"] = "a \u202eright-to-left override\u202c"
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    code, _ = run_cli(tiny_model_dir, path, tmp_path / "out")
    assert code in (0, 1)
    assert Dataset.objects.get().warnings == [
        "column 'text': NUL characters removed from 1 row (0-based data row 3).",
        "column 'text': bidirectional override characters (U+202A-U+202E, U+2066-U+2069) removed from "
        "1 row (0-based data row 8).",
    ]


@pytest.mark.django_db
def test_many_one_row_groups_run_and_are_reported_too_small(tmp_path, tiny_model_dir):
    frame = people_frame(np.random.default_rng(4), rows=80)
    frame.loc[:24, "gender"] = [f"group{i}" for i in range(25)]
    frame.to_csv(tmp_path / "people.csv", index=False)
    code, _ = run_cli(tiny_model_dir, tmp_path / "people.csv", tmp_path / "out")
    assert code in (0, 1)
    [check] = Audit.objects.get().report["checks"]
    assert "group0 (1)" in check["message"] and "group24 (1)" in check["message"]


@pytest.mark.django_db
def test_cli_refuses_an_out_path_that_is_a_file(tmp_path, tiny_model_dir, people_csv):
    (tmp_path / "out").write_text("not a folder")
    code, err = run_cli(tiny_model_dir, people_csv, tmp_path / "out")
    assert code == 2
    assert_one_clear_line(err, "--out names a file")
    assert not ModelArtifact.objects.exists()


def test_cli_subprocess_keeps_the_contract(tmp_path, tiny_model_dir):
    """As an operator runs it: a fresh database, stderr as the terminal gets it."""
    rng = np.random.default_rng(11)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(SECRET_KEY="subprocess-test", VAR_DIR=str(tmp_path / "var"), LOG_LEVEL="INFO")
    deep, _ = hostile_table("deep_jsonl", tmp_path / "data", rng)
    nan_model = MODEL_CLASSES["nan_weights"][0](tmp_path / "nan", rng)
    people = tmp_path / "people.csv"
    people_frame(rng).to_csv(people, index=False)
    runs = [
        ([str(tiny_model_dir), str(deep)], escaped(deep.name)),
        ([str(nan_model), str(people)], "weights hold NaN"),
        ([str(tiny_model_dir)], "--dataset"),  # argparse: a required option missing
    ]
    for paths, fragment in runs:
        args = ["--model", paths[0]] + (["--dataset", paths[1]] if len(paths) > 1 else [])
        result = subprocess.run(
            [sys.executable, "manage.py", "audit", *args, *MAPPING_ARGS, "--out", str(tmp_path / "out")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr
        line = result.stderr.rstrip("\n")
        assert "\n" not in line and line.startswith("error: ") and fragment in line, result.stderr
        assert "Traceback" not in result.stderr
    database = tmp_path / "var" / "db.sqlite3"
    if database.exists():  # argparse refusals never reach the database
        with sqlite3.connect(database) as db:
            for table in ("audits_modelartifact", "audits_dataset", "audits_audit"):
                assert db.execute(f"select count(*) from {table}").fetchone() == (0,)
    media = tmp_path / "var" / "media"
    assert not [p for p in media.rglob("*") if p.is_file()] if media.exists() else True
    assert not (tmp_path / "out").exists()
