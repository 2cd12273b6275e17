"""The demo builder: its split, its training cache, its login, and a whole run without training.

Fine-tuning the real MiniLM takes minutes, so no test trains: the cache logic is tested
on a hand-made metrics file and `demo_setup` on the tiny test model instead.
"""
from __future__ import annotations

import io
import json
import shutil
import stat

import numpy as np
import pytest
from django.contrib.auth.models import User

from audits import demo
from audits.models import Audit, Dataset, MitigationRun, ModelArtifact, Organisation


@pytest.fixture(scope="module")
def frame():
    return demo.load_frame()


def test_frame_has_the_shipped_rows(frame):
    assert len(frame) == 1492
    assert frame[demo.LABEL].dtype == bool
    assert int(frame[demo.LABEL].sum()) == 248


def test_mentions_identity_matches_whole_words_only():
    texts = ["I am Gay.", "what a gaiety", "African  American history", "straightforward",
             "a MIDDLE-aged man", "Muslims"]
    assert demo.mentions_identity(texts, ["gay", "african american", "straight", "middle aged", "muslim"]).tolist() == [
        True, False, True, False, False, False,
    ]


def test_split_is_stratified_by_label_and_identity(frame):
    train, held = demo.demo_split(frame, seed=0, held_out=0.3)
    assert len(train) + len(held) == len(frame)
    assert abs(len(held) - 0.3 * len(frame)) <= 1
    assert not set(train["rev_id"]) & set(held["rev_id"])
    for column in (train, held):
        assert abs(column[demo.LABEL].mean() - frame[demo.LABEL].mean()) < 0.01
    mentions = {name: demo.mentions_identity(part[demo.TEXT]) for name, part in (("train", train), ("held", held))}
    overall = demo.mentions_identity(frame[demo.TEXT]).mean()
    for name, part in (("train", train), ("held", held)):
        assert abs(mentions[name].mean() - overall) < 0.01
        # Every stratum is on both sides: toxic and harmless comments that mention an identity.
        assert (mentions[name] & part[demo.LABEL].to_numpy()).sum() > 5
        assert (mentions[name] & ~part[demo.LABEL].to_numpy()).sum() > 5


def test_split_is_reproducible_and_follows_the_seed(frame):
    first, _ = demo.demo_split(frame, seed=0)
    again, _ = demo.demo_split(frame, seed=0)
    other, _ = demo.demo_split(frame, seed=1)
    assert first["rev_id"].tolist() == again["rev_id"].tolist()
    assert first["rev_id"].tolist() != other["rev_id"].tolist()
    # File order is kept, so row numbers in a report read like the source file.
    position = {rev: i for i, rev in enumerate(frame["rev_id"])}
    assert [position[rev] for rev in first["rev_id"]] == sorted(position[rev] for rev in first["rev_id"])


def test_length_batches_cover_every_row_once_in_alike_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 128, size=300)
    batches = demo.length_batches(lengths, 16, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(300))
    assert max(len(b) for b in batches) == 16
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert padded < 1.25 * lengths.sum()  # unsorted batches would pad about 1.7x
    again = demo.length_batches(lengths, 16, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))


def _trained_folder(path, key):
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.safetensors").write_bytes(b"weights")
    (path / "metrics.json").write_text(json.dumps({**key, "accuracy": 0.9, "roc_auc": 0.95}))
    return path


def test_cached_metrics_need_the_same_data_seed_and_recipe(tmp_path, monkeypatch):
    key = demo.cache_key(data_sha256="a" * 64, seed=0)
    folder = _trained_folder(tmp_path / "model", key)
    assert demo.cached_metrics(folder, key)["roc_auc"] == 0.95
    assert demo.cached_metrics(folder, demo.cache_key(data_sha256="b" * 64, seed=0)) is None
    assert demo.cached_metrics(folder, demo.cache_key(data_sha256="a" * 64, seed=1)) is None
    monkeypatch.setitem(demo.RECIPE, "version", demo.RECIPE["version"] + 1)
    assert demo.cached_metrics(folder, demo.cache_key(data_sha256="a" * 64, seed=0)) is None


def test_cached_metrics_refuse_an_incomplete_folder(tmp_path):
    key = demo.cache_key(data_sha256="a" * 64, seed=0)
    assert demo.cached_metrics(tmp_path / "missing", key) is None
    folder = _trained_folder(tmp_path / "model", key)
    (folder / "model.safetensors").unlink()
    assert demo.cached_metrics(folder, key) is None
    folder = _trained_folder(tmp_path / "broken", key)
    (folder / "metrics.json").write_text("{not json")
    assert demo.cached_metrics(folder, key) is None


def test_demo_train_reuses_a_matching_folder_without_training(tmp_path, monkeypatch):
    key = demo.cache_key(data_sha256=demo.file_sha256(demo.DATA_CSV), seed=0)
    folder = _trained_folder(tmp_path / "model", key)

    def no_training(*args, **kwargs):
        raise AssertionError("a matching cache must not train")

    monkeypatch.setattr(demo, "_fit", no_training)
    metrics = demo.demo_train(out_dir=folder, seed=0)
    assert metrics["cached"] is True and metrics["accuracy"] == 0.9


def test_credentials_are_generated_once_and_private(tmp_path):
    path = tmp_path / "var" / "demo-credentials.txt"
    username, password = demo.demo_credentials(path)
    assert username == "demo" and len(password) >= 20
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"password: {password}" in path.read_text()
    assert demo.demo_credentials(path) == (username, password)
    assert demo.demo_credentials(tmp_path / "other.txt")[1] != password


@pytest.mark.django_db
def test_demo_user_password_follows_the_credentials_file(tmp_path):
    org = Organisation.objects.create(name="Demo")
    path = tmp_path / "demo-credentials.txt"
    user, password = demo.demo_user(org, path)
    assert user.check_password(password) and user.membership.organisation == org
    path.unlink()  # a new file means a new password, and the old one stops working
    user, new_password = demo.demo_user(org, path)
    user.refresh_from_db()
    assert new_password != password and user.check_password(new_password)
    assert User.objects.filter(username="demo").count() == 1


@pytest.mark.django_db
def test_demo_people_hold_the_three_roles_of_the_review_loop():
    org = Organisation.objects.create(name="Demo")
    people = demo.demo_people(org, "pw-1")
    compliance = User.objects.get(username="demo-compliance")
    regulator = User.objects.get(username="demo-regulator")
    assert compliance.membership.organisation == org and compliance.membership.role == "compliance"
    # The regulator belongs to no audited organisation: they see shared reports only.
    assert regulator.membership.organisation != org and regulator.membership.role == "regulator"
    assert set(people) == {"demo-compliance", "demo-regulator"}
    demo.demo_people(org, "pw-2")  # a new demo password moves both logins to it
    compliance.refresh_from_db()
    assert compliance.check_password("pw-2") and not compliance.check_password("pw-1")


@pytest.mark.django_db
def test_demo_setup_is_idempotent(tmp_path, settings, monkeypatch, tiny_model_dir):
    settings.VAR_DIR = tmp_path / "var"
    runs = []

    def fake_train(*, out_dir, seed=0, progress=None):
        # The tiny test model stands in for the fine-tuned MiniLM: same labels, seconds to run.
        runs.append(out_dir)
        if not out_dir.exists():
            shutil.copytree(tiny_model_dir, out_dir)
        return {"accuracy": 0.5, "roc_auc": 0.5, "rows_held_out": 448, "seconds": 1.0, "cached": len(runs) > 1}

    monkeypatch.setattr(demo, "demo_train", fake_train)
    out = io.StringIO()
    first = demo.demo_setup(stdout=out)
    second = demo.demo_setup(stdout=io.StringIO())
    assert first["audit_status"] == Audit.Status.DONE, Audit.objects.get(pk=first["audit_id"]).error
    assert {k: first[k] for k in ("model_id", "dataset_id", "audit_id", "password")} == {
        k: second[k] for k in ("model_id", "dataset_id", "audit_id", "password")
    }
    org = Organisation.objects.get(name="Demo")
    # The demo model and the debiased model of the demo's debiasing run, made once.
    parent = ModelArtifact.objects.for_org(org).get(pk=first["model_id"])
    assert ModelArtifact.objects.for_org(org).exclude(pk=parent.pk).get().parent_id == parent.pk
    run = MitigationRun.objects.get(pk=first["mitigation_id"])
    assert second["mitigation_id"] == run.pk and run.status == "done", run.error
    assert run.method == demo.MITIGATION["method"] and run.attribute == demo.MITIGATION["attribute"]
    assert run.before_audit.status == run.after_audit.status == "done"
    dataset = Dataset.objects.for_org(org).get(name=demo.DATASET_NAME)
    assert dataset.rows == 448 and dataset.pk == first["dataset_id"]
    assert dataset.mapping["favorable_label"] == "False" and dataset.mapping["identity_terms"] is True
    # The counterfactual twins: the same held-out rows, identity terms swapped.
    twin = Dataset.objects.for_org(org).get(name=demo.TWIN_NAME)
    # + the training split the run trains on (issue 16) and the run's measured rows.
    training = Dataset.objects.for_org(org).get(name=demo.TRAIN_NAME)
    assert training.rows == 1044 and run.options["train_dataset"] == training.pk
    assert twin.rows == 448 and Dataset.objects.for_org(org).count() == 4
    assert run.held_out_dataset.rows == run.result["held_out_rows"] == 448
    audit = Audit.objects.for_org(org).get(pk=first["audit_id"])
    assert Audit.objects.for_org(org).count() == 3  # + the run's two check audits
    assert audit.config["checks"] == demo.CHECKS
    assert {check["id"] for check in audit.report["checks"]} == set(demo.CHECKS)
    text = out.getvalue()
    assert demo.URL in text and first["password"] in text and "ROC AUC" in text
