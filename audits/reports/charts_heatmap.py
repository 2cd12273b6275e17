"""A heat map of row counts for sampling_bias's intersection results ("a & b").

The check names each cell "x & y" and lists the cells row by row (every x, then every
y within it). Values may themselves contain " & ", so the grid is recovered by
finding the split under which the names form exactly that product, never by a plain
split; a result that does not form one (an attribute that merely has " & " in its
name) gets no heat map. The attribute with more values runs down the side, where a
page has room for more of them; a grid too big for one page is left to the table.
"""
from __future__ import annotations

import math

from .chartkit import WIDTH, finite, group_rows, legend_box
from .svg import Canvas, clip_label, mix

SEP = " & "
LIGHT, DARK = "#eef4fb", "#1c4e80"
LABEL_W, CELL_H, MIN_CELL_H, TOP = 150, 28, 16, 44
MAX_ROWS, MAX_COLUMNS, MAX_GRID_H = 45, 24, 720
WIDE = 12  # more columns than this, and the longer attribute goes down the side


def _grid_from(names: list[str], first: str) -> tuple[list[str], list[str]] | None:
    """(row values, column values) if every name is f"{a} & {b}" in product order."""
    prefix = first + SEP
    width = next((i for i, n in enumerate(names) if not n.startswith(prefix)), len(names))
    if width == 0 or len(names) % width:
        return None
    columns = [n[len(prefix):] for n in names[:width]]
    rows = []
    for start in range(0, len(names), width):
        name = names[start]
        row = next((name[:-len(SEP + c)] for c in columns[:1] if name.endswith(SEP + c)), None)
        if row is None or names[start:start + width] != [f"{row}{SEP}{c}" for c in columns]:
            return None
        rows.append(row)
    return (rows, columns) if len(set(rows)) == len(rows) and len(set(columns)) == len(columns) else None


def intersection_grid(check: dict) -> tuple[list[str], list[str]] | None:
    """The intersection's row and column values, or None when the result is not one."""
    if SEP not in str(check.get("attribute") or ""):
        return None
    names = [g for g, _ in group_rows(check)]
    if len(names) < 2:
        return None
    first = names[0]
    # Try every place the first name could split; the right one reproduces the product.
    starts = [i for i in range(len(first)) if first.startswith(SEP, i)]
    for i in starts:
        grid = _grid_from(names, first[:i])
        if grid is not None:
            return grid
    return None


def _min_rows(check: dict) -> float | None:
    threshold = ((check.get("metrics") or {}).get("smallest_group_count") or {}).get("threshold") or {}
    return threshold.get("low") if finite(threshold.get("low")) else None


def intersection_heatmap(check: dict, thresholds: dict) -> str | None:
    grid = intersection_grid(check)
    if grid is None:
        return None
    rows, columns = grid
    groups = dict(group_rows(check))
    attribute = str(check.get("attribute"))
    parts = attribute.split(SEP)
    transposed = len(columns) > WIDE and len(columns) > len(rows)
    if transposed:
        rows, columns, parts = columns, rows, parts[::-1]

    def cell_name(r: str, c: str) -> str:
        return f"{c}{SEP}{r}" if transposed else f"{r}{SEP}{c}"

    if len(rows) > MAX_ROWS or len(columns) > MAX_COLUMNS:
        return None
    cell_h = max(MIN_CELL_H, min(CELL_H, MAX_GRID_H / len(rows)))
    counts = {(r, c): groups[cell_name(r, c)].get("count") for r in rows for c in columns}
    largest = max((v for v in counts.values() if finite(v)), default=0) or 1
    few = _min_rows(check)
    cell_w = min(90.0, (WIDTH - LABEL_W - 10) / len(columns))
    # Column labels turn when they cannot sit level over a narrow cell.
    turned = any(len(clip_label(c, 18)) * 6.2 > cell_w - 4 for c in columns)
    head_h = 18 + (max(len(clip_label(c, 18)) for c in columns) * 4.6 if turned else 0)
    grid_top = TOP + head_h
    grid_bottom = grid_top + len(rows) * cell_h
    title = f"Rows per intersection, {attribute}"
    canvas = Canvas(WIDTH, grid_bottom + 52, title, "Row counts of every combination of the two attributes.")
    canvas.text(6, 18, title, "title")
    if len(parts) == 2:
        canvas.text(6, 34, f"Rows: {parts[0]} · columns: {parts[1]} · darker: more rows", "note")
    for j, column in enumerate(columns):
        cx = LABEL_W + (j + 0.5) * cell_w
        if turned:
            canvas.text(cx + 3, grid_top - 6, clip_label(column, 18), "text", tooltip=column, rotate=-45)
        else:
            canvas.text(cx, grid_top - 6, clip_label(column, 18), "text", anchor="middle", tooltip=column)
    for i, row in enumerate(rows):
        y = grid_top + i * cell_h
        canvas.text(LABEL_W - 8, y + cell_h / 2 + 4, clip_label(row, 22), "text", anchor="end", tooltip=row)
        for j, column in enumerate(columns):
            name = cell_name(row, column)
            _cell(canvas, LABEL_W + j * cell_w, y, cell_w, cell_h, groups[name], name, largest, few)
    keys = []
    if few is not None and any(finite(v) and v < few for v in counts.values()):
        keys.append(("cell-few", f"fewer than {few:g} rows: too few to judge"))
    legend_box(canvas, LABEL_W, grid_bottom + 22, keys)
    return canvas.render()


def _cell(canvas: Canvas, x: float, y: float, w: float, h: float, figures: dict, name: str, largest: float,
          few) -> None:
    count = figures.get("count")
    if not finite(count):
        canvas.rect(x, y, w, h, "cell", fill="#f5f7fa", tooltip=f"{name}: no figure")
        return
    # A square-root scale keeps small but non-empty cells visibly tinted next to a big one.
    t = math.sqrt(count / largest) if largest else 0.0
    shares = [figures.get(k) for k in ("share", "expected_share", "representation_ratio")]
    detail = ", ".join(f"{label} {v:.3f}" for label, v in zip(("share", "expected", "ratio"), shares, strict=True)
                       if finite(v))
    tooltip = f"{name}: {count:,.0f} rows" + (f" ({detail})" if detail else "")
    canvas.rect(x, y, w, h, "cell", fill=mix(LIGHT, DARK, t) if count else "#f5f7fa", tooltip=tooltip)
    if few is not None and count < few:
        canvas.rect(x + 1.5, y + 1.5, w - 3, h - 3, "cell-few", tooltip=tooltip)
    canvas.text(x + w / 2, y + h / 2 + 4, f"{count:,.0f}", "cell-dark" if t > 0.6 else "cell-light",
                anchor="middle")
