"""Model upload and registration: what is accepted, what is refused, and that a refusal
leaves nothing behind (no stored file, no row, no temporary folder)."""
from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel

import runtime
from audits.errors import BadInput
from audits.models import ModelArtifact
from audits.services import model_uploads as services
from audits.services.model_uploads import model_local_folder, model_register_folder, model_upload
from audits.uploads.model_folder import file_sha256, folder_sha256
from tests.factories import zip_folder

pytestmark = pytest.mark.django_db


class TouchOnUnpickle:
    """A pickle payload: unpickling it creates `marker`, as real exploits run commands."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture(autouse=True)
def _temp_dir(settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    (tmp_path / "upload-tmp").mkdir()


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def targz_folder(folder: Path, prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path in sorted(folder.iterdir()):
            tf.add(path, prefix + path.name)
    return buf.getvalue()


def copy_model(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))


def assert_nothing_left(settings, tmp_path):
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*")] if Path(settings.MEDIA_ROOT).exists() else []
    assert [p for p in stored if p.is_file() or p.parent.name == "models"] == []
    assert ModelArtifact.objects.count() == 0
    assert list((tmp_path / "upload-tmp").iterdir()) == []


def expected_parameters(folder: Path) -> int:
    model = BertForSequenceClassification.from_pretrained(folder, use_safetensors=True, local_files_only=True)
    return sum(p.numel() for p in model.parameters())


def check_tiny(model: ModelArtifact, tiny_model_dir: Path, org, user) -> None:
    assert model.organisation == org and model.created_by == user
    assert model.labels == {"0": "False", "1": "True"}
    assert model.architecture == "BertForSequenceClassification"
    assert model.num_parameters == expected_parameters(tiny_model_dir)
    names = sorted(p.name for p in tiny_model_dir.iterdir())
    assert [f["name"] for f in model.files] == names
    assert model.storage_prefix == f"models/{model.uid}"
    for entry in model.files:
        assert entry["sha256"] == file_sha256(tiny_model_dir / entry["name"])
        with default_storage.open(f"{model.storage_prefix}/{entry['name']}") as fh:
            assert fh.read() == (tiny_model_dir / entry["name"]).read_bytes()
    assert model.sha256 == folder_sha256(model.files)


def test_zip_upload(org, user, tiny_model_dir, settings, tmp_path):
    model = model_upload(organisation=org, user=user, name="Tiny",
                         files=[upload("tiny.zip", zip_folder(tiny_model_dir, prefix="tiny/"))])
    check_tiny(model, tiny_model_dir, org, user)
    assert ModelArtifact.objects.for_org(org).get() == model
    assert list((tmp_path / "upload-tmp").iterdir()) == []


def test_targz_upload_from_a_plain_file(org, user, tiny_model_dir, tmp_path):
    # `manage.py audit --model x.tar.gz` passes a django File over an open file, not an upload.
    path = tmp_path / "tiny.tar.gz"
    path.write_bytes(targz_folder(tiny_model_dir, prefix="tiny/"))
    with path.open("rb") as fh:
        model = model_upload(organisation=org, user=user, name="Tiny", files=[File(fh, name=path.name)])
    check_tiny(model, tiny_model_dir, org, user)


def test_folder_selection_upload(org, user, tiny_model_dir, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32}))
    (folder / "modules.json").write_text("[]")
    files = [upload(f"tiny/{p.relative_to(folder).as_posix()}", p.read_bytes())
             for p in sorted(folder.rglob("*")) if p.is_file()]
    model = model_upload(organisation=org, user=user, name="Tiny", files=files)
    check_tiny(model, tiny_model_dir, org, user)
    assert any("modules.json" in note for note in model.upload_notes)


def test_pooling_config_under_a_stripped_name_is_told_apart(org, user, tiny_model_dir):
    pooling = upload("config.json", json.dumps({"word_embedding_dimension": 32}).encode())
    files = [pooling] + [upload(p.name, p.read_bytes()) for p in sorted(tiny_model_dir.iterdir())]
    model = model_upload(organisation=org, user=user, name="Tiny", files=files)
    check_tiny(model, tiny_model_dir, org, user)


@pytest.mark.parametrize("how", ["zip", "files", "folder"])
def test_pickle_weights_are_refused_and_never_unpickled(org, user, tiny_model_dir, settings, tmp_path, how):
    marker = tmp_path / "pwned"
    assert not marker.exists()
    payload = pickle.dumps(TouchOnUnpickle(marker))
    pickle.loads(pickle.dumps(TouchOnUnpickle(tmp_path / "proof")))  # the payload is live
    assert (tmp_path / "proof").exists()
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "pytorch_model.bin").write_bytes(payload)
    with pytest.raises(BadInput, match="pytorch_model.bin refused: pickle") as exc:
        if how == "zip":
            model_upload(organisation=org, user=user, name="Evil", files=[upload("evil.zip", zip_folder(folder))])
        elif how == "files":
            model_upload(organisation=org, user=user, name="Evil",
                         files=[upload(p.name, p.read_bytes()) for p in sorted(folder.iterdir())])
        else:
            model_register_folder(organisation=org, user=user, name="Evil", folder=folder)
    assert "safetensors" in str(exc.value)
    assert not marker.exists()
    assert_nothing_left(settings, tmp_path)


@pytest.mark.parametrize("entry", ["../evil", "/abs/evil"])
def test_zip_escaping_entries_are_refused(org, user, tiny_model_dir, settings, tmp_path, entry):
    data = io.BytesIO(zip_folder(tiny_model_dir))
    with zipfile.ZipFile(data, "a") as zf:
        zf.writestr(entry, b"pwned")
    with pytest.raises(BadInput, match=f"evil.zip: entry '{entry}' refused"):
        model_upload(organisation=org, user=user, name="Evil", files=[upload("evil.zip", data.getvalue())])
    assert_nothing_left(settings, tmp_path)


def test_tar_symlink_is_refused(org, user, tiny_model_dir, settings, tmp_path):
    buf = io.BytesIO(targz_folder(tiny_model_dir))
    raw = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="r:gz") as src, tarfile.open(fileobj=raw, mode="w:gz") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member))
        link = tarfile.TarInfo("vocab.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        out.addfile(link)
    with pytest.raises(BadInput, match="symbolic link"):
        model_upload(organisation=org, user=user, name="Evil", files=[upload("evil.tgz", raw.getvalue())])
    assert_nothing_left(settings, tmp_path)


def test_too_many_files_are_refused(org, user, tiny_model_dir, settings, tmp_path):
    settings.MAX_MODEL_FILES = 3
    with pytest.raises(BadInput, match="more than 3 files"):
        model_upload(organisation=org, user=user, name="Tiny", files=[upload("tiny.zip", zip_folder(tiny_model_dir))])
    assert_nothing_left(settings, tmp_path)


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def refused(org, user, folder: Path, match: str, settings, tmp_path) -> BadInput:
    with pytest.raises(BadInput, match=match) as exc:
        model_upload(organisation=org, user=user, name="Bad", files=[upload("bad.zip", zip_folder(folder))])
    assert "bad.zip" in str(exc.value)
    assert_nothing_left(settings, tmp_path)
    return exc.value


def test_auto_map_is_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    edit_config(folder, auto_map={"AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    refused(org, user, folder, "auto_map", settings, tmp_path)


def test_unknown_model_type_is_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    edit_config(folder, model_type="evil-net")
    refused(org, user, folder, "model_type 'evil-net'", settings, tmp_path)


@pytest.mark.parametrize("changes", [{"vocab_size": 10**9}, {"hidden_size": 10**6}, {"num_hidden_layers": 5000},
                                     {"id2label": {str(i): str(i) for i in range(5000)}},
                                     {"vocab_size": 900_000, "hidden_size": 16_000}])
def test_oversized_config_is_refused_before_building(org, user, tiny_model_dir, settings, tmp_path,
                                                     monkeypatch, changes):
    def no_build(*args, **kwargs):
        raise AssertionError("the model must not be built")

    monkeypatch.setattr(runtime, "load_model", no_build)
    folder = copy_model(tiny_model_dir, tmp_path)
    edit_config(folder, **changes)
    refused(org, user, folder, "config.json", settings, tmp_path)


def test_huge_config_file_is_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    edit_config(folder, padding=os.urandom(600 * 1024).hex())  # incompressible, so not a "bomb"
    refused(org, user, folder, "config.json is .* bytes, over the limit", settings, tmp_path)


def save_with_tokenizer(model, tiny_model_dir: Path, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    return folder


def small_bert_config() -> BertConfig:
    return BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32)


def test_bare_encoder_is_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = save_with_tokenizer(BertModel(small_bert_config()), tiny_model_dir, tmp_path / "bare")
    refused(org, user, folder, "no classification head: fine-tune it for sequence classification first",
            settings, tmp_path)


def test_masked_lm_weights_under_a_classifier_config_are_refused_after_building(org, user, tiny_model_dir,
                                                                                settings, tmp_path):
    # A masked LM is kept as a language model (issue 15); one that claims to be a classifier is not one.
    folder = save_with_tokenizer(BertForMaskedLM(small_bert_config()), tiny_model_dir, tmp_path / "mlm")
    edit_config(folder, architectures=["BertForSequenceClassification"])
    error = refused(org, user, folder, "no classification head", settings, tmp_path)
    assert "classifier.weight" in str(error)


def test_labels_that_do_not_match_the_classifier_are_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    edit_config(folder, id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2})
    refused(org, user, folder, "shapes do not match config.json", settings, tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "header", "length"])
def test_corrupt_safetensors_is_refused(org, user, tiny_model_dir, settings, tmp_path, damage):
    folder = copy_model(tiny_model_dir, tmp_path)
    path = folder / "model.safetensors"
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "header":
        data = data[:8] + b"\x00garbage" + data[16:]
    else:
        data = (2**62).to_bytes(8, "little") + data[8:]
    path.write_bytes(data)
    refused(org, user, folder, "model.safetensors", settings, tmp_path)


@pytest.mark.parametrize("extra,match", [("train.py", "not allowed in a model folder: train.py"),
                                         ("tf_model.h5", "tf_model.h5 refused: only safetensors"),
                                         ("optimizer.pt", "optimizer.pt refused: pickle")])
def test_files_outside_the_allow_list_are_refused(org, user, tiny_model_dir, settings, tmp_path, extra, match):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / extra).write_bytes(b"import os")
    refused(org, user, folder, match, settings, tmp_path)


def test_missing_parts_are_refused(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "tokenizer.json").unlink()
    refused(org, user, folder, "no tokenizer", settings, tmp_path)
    (folder / "model.safetensors").unlink()
    refused(org, user, folder, "no weights", settings, tmp_path)


def test_bad_requests_are_refused(org, user, tiny_model_dir):
    zipped = zip_folder(tiny_model_dir)
    with pytest.raises(BadInput, match="name"):
        model_upload(organisation=org, user=user, name="  ", files=[upload("m.zip", zipped)])
    with pytest.raises(BadInput, match="No files"):
        model_upload(organisation=org, user=user, name="M", files=[])
    with pytest.raises(BadInput, match="one archive on its own"):
        model_upload(organisation=org, user=user, name="M", files=[upload("m.zip", zipped), upload("a.zip", zipped)])


@pytest.mark.parametrize("fail_at", ["storage", "row"])
def test_a_failure_while_storing_leaves_nothing(org, user, tiny_model_dir, settings, tmp_path, monkeypatch, fail_at):
    if fail_at == "storage":
        real_save, calls = default_storage.save, []

        def save(name, content, **kwargs):
            calls.append(name)
            if len(calls) == 3:
                raise OSError("disk full")
            return real_save(name, content, **kwargs)

        monkeypatch.setattr(default_storage, "save", save)
    else:
        def create(**kwargs):
            raise RuntimeError("database gone")

        monkeypatch.setattr(ModelArtifact.objects, "create", create)
    with pytest.raises((OSError, RuntimeError)):
        model_upload(organisation=org, user=user, name="Tiny", files=[upload("tiny.zip", zip_folder(tiny_model_dir))])
    assert_nothing_left(settings, tmp_path)


def test_sharded_weights(org, user, tiny_model_dir, settings, tmp_path):
    folder = tmp_path / "sharded"
    BertForSequenceClassification.from_pretrained(tiny_model_dir).save_pretrained(folder, max_shard_size="1MB")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_model_dir / name, folder / name)
    shards = sorted(p.name for p in folder.glob("model-*.safetensors"))
    assert len(shards) > 1
    model = model_register_folder(organisation=org, user=user, name="Sharded", folder=folder)
    assert model.num_parameters == expected_parameters(tiny_model_dir)
    assert set(shards) <= {f["name"] for f in model.files}
    model.delete()
    (folder / shards[-1]).unlink()
    with pytest.raises(BadInput, match="weight shards .* incomplete"):
        model_register_folder(organisation=org, user=user, name="Sharded", folder=folder)


def test_register_folder_with_parent(org, other_org, user, tiny_model_dir, tmp_path):
    parent = model_register_folder(organisation=org, user=user, name="Parent", folder=tiny_model_dir)
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "sentence_bert_config.json").write_text("{}")
    child = model_register_folder(organisation=org, user=None, name="Child", folder=folder, parent=parent)
    assert child.parent == parent and child.sha256 == parent.sha256
    assert "sentence_bert_config.json" not in [f["name"] for f in child.files]
    assert (folder / "sentence_bert_config.json").exists()  # the caller's folder is left alone
    with pytest.raises(BadInput, match="another organisation"):
        model_register_folder(organisation=other_org, user=None, name="X", folder=tiny_model_dir, parent=parent)
    with pytest.raises(BadInput, match="not a folder"):
        model_register_folder(organisation=org, user=None, name="X", folder=tmp_path / "missing")


def test_register_folder_refuses_symlinks(org, user, tiny_model_dir, settings, tmp_path):
    folder = copy_model(tiny_model_dir, tmp_path)
    (folder / "vocab.txt").symlink_to("/etc/passwd")
    with pytest.raises(BadInput, match="vocab.txt is a link"):
        model_register_folder(organisation=org, user=user, name="Evil", folder=folder)
    assert_nothing_left(settings, tmp_path)


def test_local_folder_on_filesystem_storage_is_used_in_place(org, user, tiny_model_dir):
    model = model_upload(organisation=org, user=user, name="Tiny", files=[upload("t.zip", zip_folder(tiny_model_dir))])
    folder = model_local_folder(model=model)
    assert folder == Path(default_storage.path(model.storage_prefix))
    assert runtime.load_model(folder).id2label == {0: "False", 1: "True"}
    runtime.evict(folder)


def test_local_folder_from_object_storage_is_cached_and_verified(org, user, tiny_model_dir, settings):
    # InMemoryStorage has no local path(), like S3-compatible storage.
    settings.STORAGES = {**settings.STORAGES,
                         "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    model = model_upload(organisation=org, user=user, name="Tiny", files=[upload("t.zip", zip_folder(tiny_model_dir))])
    assert not Path(settings.MEDIA_ROOT).exists()
    folder = model_local_folder(model=model)
    assert folder == Path(settings.MODEL_CACHE_DIR) / model.sha256
    assert sorted(p.name for p in folder.iterdir()) == [f["name"] for f in model.files]
    assert runtime.inspect_model(folder)["num_parameters"] == model.num_parameters
    assert model_local_folder(model=model) == folder  # the second call reuses the copy
    shutil.rmtree(folder)
    default_storage.delete(f"{model.storage_prefix}/tokenizer_config.json")
    default_storage.save(f"{model.storage_prefix}/tokenizer_config.json", io.BytesIO(b"{}"))
    with pytest.raises(services.StoredModelCorrupt, match="tokenizer_config.json"):
        model_local_folder(model=model)
    assert list(Path(settings.MODEL_CACHE_DIR).iterdir()) == []
