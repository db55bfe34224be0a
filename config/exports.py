"""Spreadsheet-safe exports: a cell that a spreadsheet would run as a formula is neutralised.

``csv_lines`` streams CSV, ``xlsx_bytes`` builds a workbook, and ``table_response(filename=...,
header=..., rows=..., fmt="csv"|"xlsx")`` turns a table into the download response; pages accept
``?export=csv`` or ``?export=xlsx`` and pass ``export_format(request.GET.get("export"))``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Prefix text that starts like a formula (= + - @ tab CR) with an apostrophe.

    Numbers stay numbers (a negative amount is not a formula); only text is touched.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Stream CSV lines (UTF-8 with BOM so Excel on Japanese Windows opens it correctly)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


# --- XLSX and HttpResponse helpers ---------------------------------------------------------------

EXPORT_FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _xlsx_value(value: object) -> object:
    """A cell value openpyxl accepts, neutralised like the CSV cells.

    Excel has no time zones: aware datetimes become naive local time. Control characters that
    XML cannot carry are dropped instead of failing the whole export.
    """
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, datetime) and timezone.is_aware(value):
        value = timezone.localtime(value).replace(tzinfo=None)
    if value is None or isinstance(value, bool | int | float | Decimal | date | time):
        return value
    text = value if isinstance(value, str) else str(value)
    return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", text))


def xlsx_bytes(
    header: Iterable[str], rows: Iterable[Iterable[object]], *, sheet_title: str = "Sheet1"
) -> bytes:
    """One-sheet workbook (openpyxl write-only, so memory stays flat for long tables).

    Text starting like a formula gets the same apostrophe as in CSV, so it is stored as text and
    never as a formula.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=ILLEGAL_SHEET_CHARS.sub(" ", sheet_title)[:31] or "Sheet1")
    sheet.append([_xlsx_value(h) for h in header])
    for row in rows:
        sheet.append([_xlsx_value(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


ILLEGAL_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def export_format(requested: str | None) -> str | None:
    """``"csv"`` or ``"xlsx"`` when ``requested`` names one (e.g. ``?export=xlsx``), else None."""
    value = (requested or "").strip().lower()
    return value if value in EXPORT_FORMATS else None


def table_response(
    *,
    filename: str,
    header: Iterable[str],
    rows: Iterable[Iterable[object]],
    fmt: str = "csv",
    sheet_title: str = "",
) -> HttpResponseBase:
    """A table (header + rows) as a download: streamed CSV or an XLSX workbook.

    ``filename`` is given without extension. Both formats neutralise formula-like text.
    """
    stem = re.sub(r"[^\w.-]+", "-", filename).strip("-") or "export"
    if fmt == "xlsx":
        response: HttpResponseBase = HttpResponse(
            xlsx_bytes(header, rows, sheet_title=sheet_title or stem),
            content_type=XLSX_CONTENT_TYPE,
        )
        response["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
        return response
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}")
    response = StreamingHttpResponse(
        csv_lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
    return response
