"""Read an uploaded Parquet file within the table budget, or refuse it.

The footer is read first: the row and column counts and each row group's uncompressed
size are checked before a value is decoded. Text columns are then read in batches as
dictionaries (the form they are usually stored in), so a value repeated a million times
is measured, as the number of bytes it would expand to, before it is expanded.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings

from audits.errors import BadInput, first_line
from audits.uploads.table_budget import CELL_SLOT_BYTES, Budget, check_columns, too_many_rows

BATCH_ROWS = 4096


def read_parquet(path: Path, filename: str) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(path)
        metadata, schema = parquet.metadata, parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{filename}: not a readable Parquet file ({first_line(exc)}).") from None
    if metadata.num_rows > settings.MAX_DATASET_ROWS:
        raise too_many_rows(filename)
    check_columns(schema.names, filename)
    if metadata.num_columns > settings.MAX_DATASET_COLUMNS:  # nested columns count each leaf
        raise BadInput(f"{filename}: the file has {metadata.num_columns:,} leaf columns; "
                       f"the limit is {settings.MAX_DATASET_COLUMNS:,}.")
    for field in schema:
        if _type_depth(field.type) > settings.MAX_DATASET_JSON_DEPTH:
            raise BadInput(f"{filename}: column {field.name!r} is nested more than "
                           f"{settings.MAX_DATASET_JSON_DEPTH} levels deep (the limit).")
    _check_footer(metadata, Budget(filename))
    texts = [f.name for f in schema if _is_text(f.type)]
    try:
        batches = _read_batches(pq.ParquetFile(path, read_dictionary=texts), schema, Budget(filename))
        table = pa.Table.from_batches(batches, schema=schema)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{filename}: the Parquet data cannot be read ({first_line(exc)}).") from None
    return _frame(table, filename)


def _check_footer(metadata: pq.FileMetaData, budget: Budget) -> None:
    """What the writer recorded, before anything is decoded: each row group's
    uncompressed size and its cells, added up against the budget."""
    first = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        size = max(group.total_byte_size, 0) + CELL_SLOT_BYTES * group.num_rows * group.num_columns
        budget.add(size, row=first, place=f"row group {index} (rows {first} to {first + group.num_rows - 1})")
        first += group.num_rows


def _read_batches(parquet: pq.ParquetFile, schema: pa.Schema, budget: Budget) -> list[pa.RecordBatch]:
    """The file's rows in batches, each column measured before it is expanded; columns
    come back with the types of `schema` (text as text, a stored dictionary as one)."""
    batches, first = [], 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        columns = [
            _measured(column, field, first, budget)
            for field, column in zip(schema, batch.columns, strict=True)
        ]
        batches.append(pa.RecordBatch.from_arrays(columns, schema=schema))
        first += batch.num_rows
        if first > settings.MAX_DATASET_ROWS:
            raise too_many_rows(budget.filename)
    return batches


def _measured(column: pa.Array, field: pa.Field, first: int, budget: Budget) -> pa.Array:
    """The column as `field` types it, once its decoded size is known to fit."""
    if pa.types.is_dictionary(column.type) and _is_text(column.type.value_type):
        lengths = pc.take(pc.binary_length(column.dictionary), column.indices).fill_null(0).to_numpy()
        sizes = lengths.astype(np.int64) + CELL_SLOT_BYTES
    else:
        sizes = np.full(len(column), column.nbytes // max(len(column), 1) + CELL_SLOT_BYTES, dtype=np.int64)
        lengths = None
    if lengths is not None and len(lengths) and lengths.max() > budget.cell_limit:
        at = int(np.argmax(lengths > budget.cell_limit))
        budget.cell(int(lengths[at]), row=first + at, column=field.name)
    # The row where the running total crosses the limit, so the message can name it.
    over = np.flatnonzero(budget.decoded + np.cumsum(sizes) > budget.limit)
    budget.add(int(sizes.sum()), row=first + int(over[0]) if len(over) else first, column=field.name)
    if pa.types.is_dictionary(column.type) and not pa.types.is_dictionary(field.type):
        return column.dictionary_decode()
    return column


def _is_text(data_type: pa.DataType) -> bool:
    return (pa.types.is_string(data_type) or pa.types.is_large_string(data_type)
            or pa.types.is_binary(data_type) or pa.types.is_large_binary(data_type))


def _frame(table: pa.Table, filename: str) -> pd.DataFrame:
    frame = table.to_pandas()
    # A pandas index saved in the file comes back as the index: a named one is data
    # (an id column), an unnamed one a leftover; rows are counted from 0 either way.
    named = [name for name in frame.index.names if name is not None]
    try:
        frame = frame.reset_index(level=named) if named else frame
    except ValueError:
        raise BadInput(f"{filename}: the index {named!r} has the name of a column; rename one of them.") from None
    frame = frame.reset_index(drop=True)
    check_columns(list(frame.columns), filename)
    return frame


def _type_depth(data_type: pa.DataType) -> int:
    """Levels of nesting of an Arrow type: 1 for a plain value, 2 for a list of them..."""
    children = [data_type.field(i).type for i in range(data_type.num_fields)]
    return 1 + max((_type_depth(child) for child in children), default=0)
