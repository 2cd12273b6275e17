"""Dataset services: upload and store a table, preview it, map its columns, derive its groups.

Values that name a label or a group are handled as text everywhere ("True", "1",
"female"), so a mapping typed in a form, given on the command line or stored as JSON
means the same thing as the values in the file. Row numbers in messages are 0-based
data rows, as in predictions.csv.
"""
from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from audits.errors import BadInput, row_list
from audits.identity import PRIVILEGED, Lexicon, find_terms, identity_groups, lexicon_for
from audits.models import Dataset, Organisation
from audits.services.columns import value_strings
from audits.services.mapping_extras import extras_validate
from audits.services.pairs_mapping import is_pairs_mapping, pairs_mapping_validate
from audits.services.trail import event_record
from audits.uploads.csv_sniff import reading_text
from audits.uploads.tables import read_table, table_format

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_SHOWN = 5  # identity terms a message lists before "..."


def dataset_upload(
    *, organisation: Organisation, user: AbstractBaseUser | None, name: str, uploaded_file: UploadedFile
) -> Dataset:
    """Check, hash and store an uploaded table as Parquet; nothing is kept if any step fails."""
    filename = Path(uploaded_file.name or "").name
    fmt = table_format(filename)  # an unknown type is refused before a byte is copied
    limit = settings.MAX_DATASET_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise BadInput(f"{filename}: the file is {uploaded_file.size:,} bytes; the limit is {limit:,} bytes.")
    uid = uuid.uuid4()
    with tempfile.TemporaryDirectory(prefix="dataset-upload-") as folder:
        raw = Path(folder) / f"upload{Path(filename).suffix.lower()}"
        digest = hashlib.sha256()
        written = 0
        with raw.open("wb") as out:
            for chunk in uploaded_file.chunks():
                written += len(chunk)
                # The declared size can lie; the bytes actually received are what count.
                if written > limit:
                    raise BadInput(f"{filename}: the file is over the limit of {limit:,} bytes.")
                digest.update(chunk)
                out.write(chunk)
        warnings: list[str] = []
        reading: dict = {}
        frame = read_table(raw, filename=filename, warnings=warnings, reading=reading)
        normalised = Path(folder) / "normalised.parquet"
        frame.to_parquet(normalised, index=False)
        stored = None
        try:
            with normalised.open("rb") as handle:
                stored = default_storage.save(f"datasets/{uid}.parquet", File(handle))
            with transaction.atomic():
                dataset = Dataset.objects.create(
                    uid=uid, organisation=organisation, created_by=user,
                    name=(name or "").strip()[:200] or filename[:200],
                    original_filename=filename[:300], file_format=fmt, parquet_path=stored,
                    sha256=digest.hexdigest(), rows=len(frame),
                    columns=[{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
                    warnings=warnings, reading=reading,
                )
                event_record(organisation=organisation, actor=user, verb="dataset.upload",
                             detail={"dataset": dataset.pk, "name": dataset.name, "sha256": dataset.sha256})
                return dataset
        except BaseException:
            if stored is not None:
                default_storage.delete(stored)
            raise


def dataset_frame(*, dataset: Dataset) -> pd.DataFrame:
    """The stored, normalised table."""
    with default_storage.open(dataset.parquet_path, "rb") as handle:
        return pd.read_parquet(handle)


def dataset_preview(*, dataset: Dataset, rows: int = 10) -> dict:
    """Column names and types and the first `rows` rows as text (for a template to escape)."""
    with default_storage.open(dataset.parquet_path, "rb") as handle:
        parquet = pq.ParquetFile(handle)
        names = parquet.schema_arrow.names
        # Only the first batch is read: a preview of a million rows costs the same as of ten.
        batch = next(parquet.iter_batches(batch_size=max(rows, 1)), None)
        head = batch.to_pandas() if batch is not None else pd.DataFrame(columns=names)
    head = head.head(max(rows, 0))
    cells = {c: value_strings(head[c], missing="").tolist() for c in head.columns}
    return {
        "columns": [{"name": c["name"], "dtype": c["dtype"]} for c in dataset.columns],
        "rows": [[cells[c][i] for c in head.columns] for i in range(len(head))],
        "total_rows": dataset.rows,
        "reading": reading_text(dataset.reading),
    }


def dataset_map(*, dataset: Dataset, mapping: dict) -> Dataset:
    """Validate `mapping` against the stored table and save its normalised form."""
    normalised = mapping_validate(
        frame=dataset_frame(dataset=dataset), mapping=mapping, filename=dataset.original_filename,
        lexicon=lexicon_for(dataset.organisation),
    )
    dataset.mapping = normalised
    dataset.save(update_fields=["mapping"])
    return dataset


def mapping_validate(*, frame: pd.DataFrame, mapping: dict, filename: str, lexicon: Lexicon) -> dict:
    """The normalised mapping, or BadInput naming the file, the column and the rows at fault.
    A mapping of sentence pairs (a more-stereotypical column) is a pairs mapping (pairs_mapping)."""
    if is_pairs_mapping(mapping):
        return pairs_mapping_validate(frame=frame, mapping=mapping, filename=filename)
    text_column = _column(frame, mapping.get("text_column"), "text", filename)
    label_column = _column(frame, mapping.get("label_column"), "label", filename)
    if text_column == label_column:
        raise BadInput(f"{filename}: column {text_column!r} cannot be both the text and the label column.")

    texts = frame[text_column]
    if not (pd.api.types.is_string_dtype(texts) or texts.dtype == object):
        raise BadInput(f"{filename}: column {text_column!r} holds {texts.dtype} values, not text.")
    not_text = texts.notna() & ~texts.map(lambda v: isinstance(v, str)).astype(bool)
    if not_text.any():
        raise BadInput(f"{filename}: column {text_column!r} is not text in {row_list(not_text)}.")
    blank = texts.isna() | texts.fillna("").str.strip().eq("")
    if blank.any():
        raise BadInput(f"{filename}: column {text_column!r} has no text in {row_list(blank)}.")

    labels = frame[label_column]
    if labels.isna().any():
        raise BadInput(f"{filename}: column {label_column!r} has no label in {row_list(labels.isna())}.")
    label_values = [str(v) for v in value_strings(labels).value_counts().index]
    if len(label_values) < 2:
        raise BadInput(
            f"{filename}: column {label_column!r} has only one label ({label_values[0]!r}); "
            "an audit needs at least two."
        )
    given = mapping.get("favorable_label")
    favorable = _pick(given, label_values)
    if favorable is None:
        problem = "choose the favourable label" if given is None else f"the favourable label {str(given)!r} is not a value"
        raise BadInput(f"{filename}: {problem} of column {label_column!r}; its values are {_listing(label_values)}.")

    protected_in = mapping.get("protected") or {}
    if isinstance(protected_in, list | tuple):
        protected_in = {attribute: [] for attribute in protected_in}
    use_terms = _flag(mapping.get("identity_terms"))
    if not protected_in and not use_terms:
        raise BadInput(f"{filename}: choose at least one protected column, or groups from identity terms.")
    protected: dict[str, list[str]] = {}
    for attribute, chosen in protected_in.items():
        column = _column(frame, attribute, "protected", filename)
        if column in (text_column, label_column):
            raise BadInput(f"{filename}: column {column!r} is the text or label column; it cannot be protected.")
        protected[column] = _privileged(frame[column], chosen, column, filename)

    if use_terms and not any(find_terms(texts, lexicon)):
        sample = ", ".join(repr(term) for term, _ in list(lexicon)[:_SHOWN])
        raise BadInput(
            f"{filename}: no text in column {text_column!r} mentions any of the {len(lexicon)} "
            f"identity terms ({sample}{', ...' if len(lexicon) > _SHOWN else ''})."
        )
    extras = extras_validate(frame=frame, mapping=mapping, protected=protected, filename=filename,
                             used={text_column, label_column, *protected})
    return {
        "text_column": text_column, "label_column": label_column, "favorable_label": favorable,
        "protected": protected, "identity_terms": use_terms, **extras,
    }


def dataset_groups(
    *, frame: pd.DataFrame, mapping: dict, lexicon: Lexicon
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The protected-attribute table the checks group by, and each attribute's privileged values.

    One text column per protected column (empty values form the group "(missing)"),
    then, with identity terms, one per lexicon category ("none" privileged). A derived
    category is left out when it has one value everywhere or no "none" to compare
    against; it is named "<category>_terms" if a protected column has its name. The
    derived attributes are listed in the frame's attrs["identity_attributes"].
    """
    columns: dict[str, pd.Series] = {}
    privileged: dict[str, list[str]] = {}
    for attribute, values in mapping["protected"].items():
        columns[attribute] = value_strings(frame[attribute])
        privileged[attribute] = [str(v) for v in values]
    derived_names: list[str] = []
    if mapping.get("identity_terms"):
        derived = identity_groups(frame[mapping["text_column"]].fillna(""), lexicon)
        for category in derived.columns:
            values = derived[category]
            if values.nunique() < 2 or not values.eq(PRIVILEGED).any():
                continue
            attribute = category if category not in columns else f"{category}_terms"
            columns[attribute] = values
            privileged[attribute] = [PRIVILEGED]
            derived_names.append(attribute)
    groups = pd.DataFrame(columns, index=frame.index, dtype="str")
    groups.attrs["identity_attributes"] = derived_names
    return groups, privileged


def labels_match(*, label_values: list[str], id2label: dict[str, str]) -> dict[str, int]:
    """Each dataset label's class id: by the model's label name, else by integer id.

    One rule serves all labels (names first, then ids) so that a dataset never has
    one label matched by name and another by number.
    """
    names = {int(k): str(v) for k, v in id2label.items()}
    values = [str(v) for v in label_values]

    by_name: dict[str, int] = {}
    for value in values:
        exact = [i for i, label in names.items() if label == value]
        folded = [i for i, label in names.items() if label.casefold() == value.casefold()]
        if len(exact) == 1 or len(folded) == 1:
            by_name[value] = exact[0] if len(exact) == 1 else folded[0]
    by_id = {v: int(v) for v in values if v.lstrip("-").isdigit() and int(v) in names}

    for matched in (by_name, by_id):
        if len(matched) == len(values):
            if len(set(matched.values())) < len(values):
                raise BadInput(
                    f"Dataset labels {_listing(values)} do not match the model's labels one to one "
                    f"(model labels: {_model_labels(names)})."
                )
            return matched
    unmatched = [v for v in values if v not in by_name and v not in by_id] or [v for v in values if v not in by_name]
    raise BadInput(
        f"The model cannot produce the dataset label{'s' if len(unmatched) > 1 else ''} {_listing(unmatched)}; "
        f"its labels are {_model_labels(names)}. Labels must match the model's label names or ids."
    )


def labels_same(*, label_values: list[str], id2label: dict[str, str], filename: str, column: str) -> None:
    """Refuse a model with labels the dataset does not have (checked when an audit is created).

    A model with more classes than the dataset puts some rows in a class that is neither
    favourable nor unfavourable, and its probabilities split over classes the checks never
    see: figures about a different task. So the label sets must have the same size (and
    `labels_match` pairs them one to one).
    """
    names = {int(k): str(v) for k, v in id2label.items()}
    if len(names) != len(label_values):
        raise BadInput(
            f"{filename}: column {column!r} has {len(label_values)} labels ({_listing(label_values)}) but the model "
            f"has {len(names)} ({_model_labels(names)}); audit a model whose labels are the dataset's labels."
        )


# --- helpers -----------------------------------------------------------------------------

def _column(frame: pd.DataFrame, name, role: str, filename: str) -> str:
    if name is None or str(name).strip() == "":
        raise BadInput(f"{filename}: choose the {role} column.")
    if str(name) not in frame.columns:
        raise BadInput(
            f"{filename}: there is no column {str(name)!r} (for the {role} column); "
            f"the columns are {_listing([str(c) for c in frame.columns], limit=20)}."
        )
    return str(name)


def _privileged(series: pd.Series, chosen, column: str, filename: str) -> list[str]:
    """The privileged values chosen for a protected column. Small groups (or a few rows
    without a value, the group "(missing)") are not refused: the checks carry a group
    under settings.MIN_GROUP_ROWS as too small to judge, so the audit still runs."""
    groups = value_strings(series)
    counts = groups.value_counts()
    present = [str(v) for v in counts.index]
    if len(present) < 2:
        raise BadInput(f"{filename}: column {column!r} has only one value ({present[0]!r}); there is nothing to compare.")
    chosen_list = [chosen] if isinstance(chosen, str | int | float | bool) else list(chosen or [])
    if not chosen_list:
        raise BadInput(f"{filename}: choose the privileged value of column {column!r}; its values are {_listing(present)}.")
    privileged = []
    for value in chosen_list:
        picked = _pick(value, present)
        if picked is None:
            raise BadInput(
                f"{filename}: the privileged value {str(value)!r} is not in column {column!r}; "
                f"its values are {_listing(present)}."
            )
        privileged.append(picked)
    if set(privileged) == set(present):
        raise BadInput(f"{filename}: every value of column {column!r} is privileged; there is nothing to compare.")
    return list(dict.fromkeys(privileged))


def _pick(given, present: list[str]) -> str | None:
    """The present value `given` means: as written, else ignoring case, else as the same number."""
    if given is None or str(given).strip() == "":
        return None
    text = str(given).strip()
    if text in present:
        return text
    folded = [v for v in present if v.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    number = _as_float(text)
    same = [v for v in present if number is not None and _as_float(v) == number]
    return same[0] if len(same) == 1 else None


def _as_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _listing(values: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _model_labels(names: dict[int, str]) -> str:
    return ", ".join(f"{i}: {label!r}" for i, label in sorted(names.items()))
