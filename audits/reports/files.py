"""The files of a finished audit: report.json, report.html, report.pdf, predictions.csv.

The same four files come out of `manage.py audit --out DIR` and the web download, so
they are built in one place.
"""
from __future__ import annotations

import pandas as pd

from .document import report_json
from .pdf import render_pdf
from .render import render_html

PREDICTION_COLUMNS = ("row", "label", "prediction", "probability")


def predictions_csv(frame: pd.DataFrame) -> bytes:
    """predictions.csv: row, label, prediction, probability, then the protected columns.

    Columns are written in the frame's own order; the four fixed ones must lead, as
    DESIGN.md promises tools reading the file. Values are written unchanged (no
    spreadsheet-formula escaping) so the file matches the dataset byte for byte.
    """
    leading = tuple(frame.columns[: len(PREDICTION_COLUMNS)])
    if leading != PREDICTION_COLUMNS:
        raise ValueError(f"predictions frame must start with columns {list(PREDICTION_COLUMNS)}, got {list(leading)}")
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def report_documents(document: dict) -> dict[str, bytes]:
    """The three files rendered from the report document, keyed by file name."""
    return {
        "report.json": report_json(document),
        "report.html": render_html(document).encode("utf-8"),
        "report.pdf": render_pdf(document),
    }


def report_files(document: dict, predictions_frame: pd.DataFrame) -> dict[str, bytes]:
    """The four report files, keyed by file name."""
    return {**report_documents(document), "predictions.csv": predictions_csv(predictions_frame)}
