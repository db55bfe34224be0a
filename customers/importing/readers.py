"""Open an uploaded customer or purchase file safely and stream it as polars frames of strings.

``open_tabular`` looks at the file's content (never its name), refuses what is not a table or is
unsafe (zip bombs, macro workbooks, legacy .xls, encrypted workbooks, binaries), finds the
encoding, delimiter and header row, and returns a ``TabularFile`` whose ``batches()`` stream the
data rows without ever holding the whole file in memory.

Every batch has ``__row`` (Int64, the row number a spreadsheet user sees: the header is row 1 when
it is the first record), one String column per header, and ``__extra`` (cells past the last header
joined with " | "). Empty cells are null; a cell of whitespace only may come through as it is (the
normalisers read it as empty: testing every cell of the file for it costs more than they do);
other values are untouched. Records with nothing but whitespace are skipped, but still count for
the row numbers of later records.

CSV is read in large chunks, transcoded to UTF-8 when needed, cut at the last record boundary
(a newline after an even number of '"') and parsed by polars, so the per-byte work runs in Rust.
Pieces polars cannot parse (stray quotes, rows wider than expected) are parsed again by the
``csv`` module, which reads them the way Excel does. Bytes that are not valid in the detected
encoding stop the read with ``ImportFileError("decode_error")`` naming the row and byte offset:
the pipeline has no channel for a per-row decoding problem, and silently replacing characters in
names or addresses would store corrupted customer data.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from django.utils.translation import gettext as _

ROW = "__row"
EXTRA = "__extra"
EXTRA_SEPARATOR = " | "

# Raw bytes read per step. Measured on 1M rows / 170 MB: 4 MB reads ~10 % faster than 8 MB (a
# fresh 8 MB block costs page faults on every read) and 2 MB slower (per-piece costs).
CHUNK_BYTES = 4 * 2**20
# How much of the file is used to detect encoding, delimiter and header.
SAMPLE_BYTES = 4 * 2**20
# preview() and the "is there any data" check read in small steps so they stay quick.
PREVIEW_CHUNK_BYTES = 2**20
# A record that is still unfinished after this many bytes means an unbalanced quote somewhere
# (e.g. a stray 27" in an unquoted cell); the rest of the file is then read with the csv module
# instead of buffering it all.
MAX_RECORD_BYTES = 32 * 2**20
# Rows per frame when the csv module does the parsing.
FALLBACK_RECORDS = 50_000
# Members smaller than this cannot do harm however well they compress (tiny XML parts reach high
# ratios legitimately), so the ratio limit applies to bigger ones only.
ZIP_RATIO_MIN_BYTES = 2**20
MAX_CONTENT_TYPES_BYTES = 4 * 2**20

DELIMITERS = (",", "\t", ";", "|")
DELIMITER_SAMPLE_RECORDS = 200


_MAGIC_NOT_TABULAR = (
    (b"%PDF-", "PDF"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x1f\x8b", "gzip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
)
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = ("EncryptedPackage".encode("utf-16-le"), b"EncryptedPackage")


class ImportFileError(Exception):
    """The uploaded file cannot be imported; ``message`` tells the user why and what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so the error survives pickling (Celery)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class _CsvLayout:
    codec: str  # Python codec for the raw bytes ("utf-8" for UTF-8 with or without BOM)
    bom: int  # bytes to skip at the start
    unit: int  # code unit size: 2 for UTF-16, else 1
    cr_only: bool  # old Mac line endings: every "\r" ends a line
    delimiter: str
    header_records: int  # records up to and including the header (blank ones before it count)
    width: int  # initial parser width: widest record seen in the sample


@dataclass
class TabularFile:
    """An opened, validated table: where it is, what it is, and how to stream it."""

    path: Path
    format: str
    encoding: str | None
    delimiter: str | None
    headers: list[str]
    sheet_name: str | None
    _max_rows: int | None = field(default=None, repr=False, compare=False)
    _csv: _CsvLayout | None = field(default=None, repr=False, compare=False)
    _header_row: int = field(default=1, repr=False, compare=False)
    _row_count: int | None = field(default=None, repr=False, compare=False)
    _bytes_read: int = field(default=0, repr=False, compare=False)
    # (file bytes read, records parsed from them) as of the last piece parsed: one tuple, so a
    # thread reading it while the file is read in another sees a consistent pair.
    _parsed: tuple[int, int] = field(default=(0, 0), repr=False, compare=False)

    def count_rows(self) -> int:
        """Number of non-empty data records (one streaming pass; cached)."""
        if self._row_count is None:
            total = 0
            if self.format == "xlsx":
                for _row in self._xlsx_records():
                    total += 1
                    self._check_rows(total)
            else:
                masked = self._csv_count_masked()
                for _first, raw in self._csv_raw_frames(CHUNK_BYTES, masked=masked):
                    total += _count_non_empty(raw)
                    self._check_rows(total)
            self._row_count = total
        return self._row_count

    def estimated_rows(self) -> int | None:
        """The data records of a CSV file, estimated from the records per byte of what
        ``batches()`` has parsed so far — however far ahead of its consumer it reads (None
        before anything is parsed, and for a workbook: ``count_rows()`` is cheap there). Lets
        progress be shown, and a bulk load chosen, without a counting pass over the file."""
        if self._csv is None:
            return None
        read, records = self._parsed
        if not read:
            return None
        size = self.path.stat().st_size
        return max(0, round(records * max(size, read) / read) - self._csv.header_records)

    def preview(self, n: int = 20) -> pl.DataFrame:
        """The first ``n`` data records, shaped like ``batches()``."""
        frames: list[pl.DataFrame] = []
        have = 0
        for frame in self._frames(max(n, 1), PREVIEW_CHUNK_BYTES):
            frames.append(frame)
            have += frame.height
            if have >= n:
                break
        if not frames:
            return self._empty_frame()
        return pl.concat(frames).head(n)

    def batches(
        self, batch_rows: int = 100_000, edge_rows: int | None = None
    ) -> Iterator[pl.DataFrame]:
        """Stream the data records as frames of at most ``batch_rows`` rows.

        With ``edge_rows``, the first batch and the ones cut once the whole file has been read
        hold at most that many: a pipeline that stores one batch while it normalises the next
        then starts storing sooner and has less left to store after its last batch.
        """
        if batch_rows < 1 or (edge_rows is not None and edge_rows < 1):
            raise ValueError("batch_rows and edge_rows must be at least 1")
        edge = min(edge_rows or batch_rows, batch_rows)
        pending: list[pl.DataFrame] = []
        have = 0
        total = 0
        size = edge
        for frame in self._frames(batch_rows, CHUNK_BYTES):
            total += frame.height
            self._check_rows(total)
            pending.append(frame)
            have += frame.height
            # Re-cut to full batches: the pipeline's per-batch cost (COPY, progress) favours few.
            while have >= size:
                joined = pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]
                yield _contiguous(joined.slice(0, size))
                rest = joined.slice(size)
                pending = [rest] if rest.height else []
                have = rest.height
                size = edge if self._read_to_end() else batch_rows
        if have:
            joined = pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]
            for start in range(0, have, edge):
                yield _contiguous(joined.slice(start, edge))

    def _read_to_end(self) -> bool:
        """Whether the last bytes of a CSV file have been read (never for a workbook)."""
        return self._csv is not None and self._bytes_read >= self.path.stat().st_size

    # -- shared -------------------------------------------------------------------------------

    def _check_rows(self, total: int) -> None:
        if self._max_rows is not None and total > self._max_rows:
            raise ImportFileError(
                "too_many_rows",
                _(
                    "The file has more than %(limit)s data rows. Split it into smaller files "
                    "and upload them one at a time."
                )
                % {"limit": f"{self._max_rows:,}"},
            )

    def _empty_frame(self) -> pl.DataFrame:
        schema: dict[str, pl.DataType] = {ROW: pl.Int64()}
        schema.update({name: pl.String() for name in self.headers})
        schema[EXTRA] = pl.String()
        return pl.DataFrame(schema=schema)

    def _frames(self, batch_rows: int, chunk_bytes: int) -> Iterator[pl.DataFrame]:
        if self.format == "xlsx":
            yield from self._xlsx_frames(batch_rows)
            return
        for first, raw in self._csv_raw_frames(chunk_bytes):
            frame = _finish(raw, first, self.headers)
            del raw  # not kept alive while the consumer works on the frame
            if frame.height:
                yield frame

    # -- CSV ----------------------------------------------------------------------------------

    def _csv_count_masked(self) -> bool:
        # Counting needs the record structure and which cells are blank, not the text. In cp932
        # and EUC-JP, '"', '\n', '\r', ',', '\t' and ';' never occur inside a multibyte
        # character (cp932 trail bytes are 0x40-0xFC, so '|' can: it is excluded), and the only
        # non-ASCII blank is the full-width space. So the raw bytes, with full-width spaces turned
        # into two ASCII spaces and every other non-ASCII byte into "x", count exactly like the
        # text, without the transcode (~0.8 s per 150 MB). Bad bytes then surface in batches().
        layout = self._csv
        assert layout is not None  # set for every CSV
        return layout.codec == "euc_jp" or (layout.codec == "cp932" and layout.delimiter != "|")

    def _csv_raw_frames(
        self, chunk_bytes: int, *, masked: bool = False
    ) -> Iterator[tuple[int, pl.DataFrame]]:
        """Frames of raw cells (columns c0..cN, blank records kept) with their first row number."""
        layout = self._csv
        assert layout is not None  # set for every CSV
        parser = _PieceParser(layout, self.encoding)
        next_row = 1
        to_skip = layout.header_records
        pieces = _record_pieces(
            self._tracked(_utf8_blocks(self.path, layout, chunk_bytes, masked=masked))
        )
        while True:
            try:
                item = next(pieces)
            except StopIteration:
                return
            except _BadBytes as error:
                raise _decode_error(
                    self.encoding, error.offset, next_row + _count_records(error.pending)
                ) from None
            if isinstance(item, _Rest):
                frames = parser.stream(item.blocks, next_row)
            else:
                frames = iter([(next_row, parser.parse(item.data, item.offset, next_row))])
            del item  # the piece's bytes are parsed; free them before handing out the frame
            for first, raw in frames:
                next_row = first + raw.height
                self._parsed = (self._bytes_read, next_row - 1)
                if to_skip:
                    # The header (and blank records before it) are parsed like data, then dropped:
                    # that keeps every later row number in one place.
                    k = min(to_skip, raw.height)
                    to_skip -= k
                    raw = raw.slice(k)
                    first += k
                yield first, raw

    def _tracked(self, blocks: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        self._bytes_read = 0
        for offset, data in blocks:
            # The offset is in file bytes, the length in UTF-8 bytes: close enough for progress.
            self._bytes_read = offset + len(data)
            yield offset, data

    # -- XLSX ---------------------------------------------------------------------------------

    def _xlsx_records(self) -> Iterator[tuple[int, list[str | None]]]:
        """(row number, cells) for every non-empty row after the header."""
        row_no = 0
        with _open_workbook(self.path) as workbook:
            sheet = workbook[self.sheet_name]
            # The stored dimension is often wrong (some writers put "A1"); trusting it would drop
            # rows or columns, so read what the sheet really holds.
            sheet.reset_dimensions()
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            while True:
                try:
                    row_no, values = next(rows)
                except StopIteration:
                    return
                except Exception:  # damaged sheet XML or ZIP data, found while streaming
                    raise _not_tabular(
                        _(
                            "The workbook is damaged after row %(row)s and cannot be read. Save "
                            "it again in Excel and upload it again."
                        )
                        % {"row": f"{row_no:,}"}
                    ) from None
                if row_no <= self._header_row:
                    continue
                cells = list(map(_cell_text, values))
                if any(cells):
                    yield row_no, cells

    def _xlsx_frames(self, batch_rows: int) -> Iterator[pl.DataFrame]:
        width = len(self.headers)
        numbers: list[int] = []
        rows: list[list[str | None]] = []
        extras: list[str | None] = []
        for row_no, cells in self._xlsx_records():
            if len(cells) > width:
                extra = [cell for cell in cells[width:] if cell is not None]
                extras.append(EXTRA_SEPARATOR.join(extra) if extra else None)
                cells = cells[:width]
            else:
                extras.append(None)
                if len(cells) < width:
                    cells.extend([None] * (width - len(cells)))
            numbers.append(row_no)
            rows.append(cells)
            if len(rows) >= batch_rows:
                yield self._xlsx_frame(numbers, rows, extras)
                numbers, rows, extras = [], [], []
        if rows:
            yield self._xlsx_frame(numbers, rows, extras)

    def _xlsx_frame(
        self, numbers: list[int], rows: list[list[str | None]], extras: list[str | None]
    ) -> pl.DataFrame:
        # Transpose once in C (zip) and build each column in one go.
        columns = [pl.Series(ROW, numbers, dtype=pl.Int64)]
        for name, values in zip(self.headers, zip(*rows, strict=True), strict=True):
            columns.append(pl.Series(name, values, dtype=pl.String))
        columns.append(pl.Series(EXTRA, extras, dtype=pl.String))
        return pl.DataFrame(columns)


# ---------------------------------------------------------------------------------------------
# Opening


def open_tabular(
    path: Path | str,
    *,
    max_bytes: int,
    max_rows: int | None = None,
    xlsx_max_uncompressed: int = 1024**3,
    xlsx_max_ratio: int = 200,
) -> TabularFile:
    """Check and open an uploaded table; raises ``ImportFileError`` with a user-facing reason."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ImportFileError(
            "too_large",
            _(
                "The file is %(size)s; the limit is %(limit)s. Split it into smaller files and "
                "upload them one at a time."
            )
            % {"size": _human_size(size), "limit": _human_size(max_bytes)},
        )
    if size == 0:
        raise ImportFileError("empty_file", _("The file is empty. Choose the file again."))
    with path.open("rb") as file:
        head = file.read(SAMPLE_BYTES)

    if head.startswith(_ZIP_MAGIC):
        tabular = _open_xlsx(path, xlsx_max_uncompressed, xlsx_max_ratio)
    elif head.startswith(_OLE2_MAGIC):
        raise _ole2_error(path)
    elif head.startswith(_EMPTY_ZIP_MAGIC):
        raise _not_tabular(_("This is an empty ZIP archive, not a spreadsheet."))
    else:
        _refuse_binary(head)
        tabular = _open_csv(path, head, size)
        if tabular.preview(1).height == 0:
            raise _no_data_rows()
    tabular._max_rows = max_rows
    return tabular


def _no_data_rows() -> ImportFileError:
    return ImportFileError(
        "empty_file",
        _("The file has a header row but no data rows. Add the data and upload it again."),
    )


def _not_tabular(message: str) -> ImportFileError:
    return ImportFileError("not_tabular", message)


def _human_size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _ole2_error(path: Path) -> ImportFileError:
    # An encrypted .xlsx is an OLE2 container with an "EncryptedPackage" stream; its directory
    # may sit anywhere, so look through the whole file (bounded by max_bytes, read in chunks).
    with path.open("rb") as file:
        tail = b""
        while chunk := file.read(CHUNK_BYTES):
            window = tail + chunk
            if any(marker in window for marker in _ENCRYPTED_PACKAGE):
                return ImportFileError(
                    "encrypted",
                    _(
                        "The workbook is protected with a password. Open it in Excel, remove the "
                        "password (File > Info > Protect Workbook), save it and upload it again."
                    ),
                )
            tail = window[-64:]
    return ImportFileError(
        "legacy_xls",
        _(
            "This is an old .xls workbook (Excel 97-2003). Save it as .xlsx or CSV and upload "
            "it again."
        ),
    )


def _refuse_binary(head: bytes) -> None:
    for magic, kind in _MAGIC_NOT_TABULAR:
        if head.startswith(magic):
            raise _not_tabular(
                _("This is a %(kind)s file, not a table. Upload a CSV file or an .xlsx workbook.")
                % {"kind": kind}
            )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    if b"\x00" in head[: 64 * 1024]:
        raise _not_tabular(
            _(
                "The file contains binary data, so it is not a CSV text file or an .xlsx "
                "workbook. Save the table as CSV (UTF-8) or .xlsx and upload it again."
            )
        )
    start = head[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<table")):
        # Some systems export web pages or XML spreadsheets with an .xls name.
        raise _not_tabular(
            _(
                "This is a web page or XML file, not a CSV or .xlsx file (some systems save these "
                "with an .xls name). Open it in Excel, save it as .xlsx or CSV and upload it again."
            )
        )


# ---------------------------------------------------------------------------------------------
# XLSX


def _open_xlsx(path: Path, max_uncompressed: int, max_ratio: int) -> TabularFile:
    _check_workbook_zip(path, max_uncompressed, max_ratio)
    with _open_workbook(path) as workbook:
        sheet = next((ws for ws in workbook.worksheets if ws.sheet_state == "visible"), None)
        if sheet is None:
            raise _not_tabular(_("The workbook has no visible worksheet."))
        sheet.reset_dimensions()
        # Header and first data row in one pass: every load of a big sheet costs seconds.
        found: list[tuple[int, list[str | None]]] = []
        for row_no, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = list(map(_cell_text, values))
            if any(cells):
                found.append((row_no, cells))
                if len(found) == 2:
                    break
        name = sheet.title
    if not found:
        raise ImportFileError(
            "empty_file",
            _("The first visible sheet (%(sheet)s) is empty.") % {"sheet": name},
        )
    if len(found) == 1:
        raise _no_data_rows()
    header_row, header_cells = found[0]
    return TabularFile(
        path=path,
        format="xlsx",
        encoding=None,
        delimiter=None,
        headers=_make_headers(header_cells),
        sheet_name=name,
        _header_row=header_row,
    )


def _check_workbook_zip(path: Path, max_uncompressed: int, max_ratio: int) -> None:
    """Refuse zip bombs, macro workbooks and ZIPs that are not workbooks, before openpyxl reads."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise _not_tabular(
            _("The file looks like an Excel workbook but is damaged. Save it again and upload it.")
        ) from None
    with archive:
        members = archive.infolist()
        total = sum(info.file_size for info in members)
        if total > max_uncompressed:
            raise ImportFileError(
                "zip_bomb",
                _(
                    "The workbook unpacks to %(size)s, more than the %(limit)s allowed. Save the "
                    "sheet as CSV and upload that instead."
                )
                % {"size": _human_size(total), "limit": _human_size(max_uncompressed)},
            )
        for info in members:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= ZIP_RATIO_MIN_BYTES and ratio > max_ratio:
                raise ImportFileError(
                    "zip_bomb",
                    _(
                        "A part of the workbook (%(name)s) is compressed %(ratio)s:1, more than "
                        "the %(limit)s:1 allowed; files built like this are used to exhaust "
                        "servers. Save the sheet as CSV and upload that instead."
                    )
                    % {"name": info.filename, "ratio": int(ratio), "limit": max_ratio},
                )
        names = {info.filename.lower(): info for info in members}
        if any(info.flag_bits & 0x1 for info in members):
            raise ImportFileError(
                "encrypted",
                _(
                    "The archive is protected with a password. Remove the password and upload again."
                ),
            )
        macro_message = _(
            "This workbook contains macros (VBA); macro-enabled files are not accepted. Save it "
            "as an Excel Workbook (.xlsx) or CSV and upload it again."
        )
        if any(name.rsplit("/", 1)[-1] == "vbaproject.bin" for name in names):
            raise ImportFileError("macro_file", macro_message)
        content_types = names.get("[content_types].xml")
        if (
            content_types is not None
            and content_types.file_size <= MAX_CONTENT_TYPES_BYTES
            and b"macroenabled" in archive.read(content_types).lower()
        ):
            raise ImportFileError("macro_file", macro_message)
        if "xl/workbook.xml" in names:
            return
        if "xl/workbook.bin" in names:
            message = _(
                "This is a binary Excel workbook (.xlsb). Save it as .xlsx or CSV and upload it "
                "again."
            )
        elif (
            "mimetype" in names
            and names["mimetype"].file_size < 200
            and b"opendocument" in (archive.read(names["mimetype"]))
        ):
            message = _(
                "This is an OpenDocument file (.ods). Save it as .xlsx or CSV and upload it again."
            )
        elif any(name.endswith((".csv", ".xlsx", ".txt")) for name in names):
            message = _(
                "This is a ZIP archive containing files. Unzip it and upload the CSV or .xlsx "
                "file inside."
            )
        else:
            message = _("This is a ZIP archive, not an Excel workbook. Upload a CSV or .xlsx file.")
        raise _not_tabular(message)


@contextlib.contextmanager
def _open_workbook(path: Path) -> Iterator[Any]:
    """openpyxl's read-only workbook, closed (with its file) on exit."""
    import openpyxl  # imported here: only XLSX uploads pay for it

    # A file object, not the path: openpyxl refuses paths whose extension is not .xlsx, and the
    # format was decided by content.
    with path.open("rb") as file:
        try:
            with warnings.catch_warnings():
                # openpyxl warns about unsupported extensions (data validation, ...); irrelevant.
                warnings.simplefilter("ignore")
                workbook = openpyxl.load_workbook(
                    file, read_only=True, data_only=True, keep_links=False
                )
        except Exception:  # openpyxl raises many types for damaged files
            raise _not_tabular(
                _("The workbook could not be read; it may be damaged. Save it again and upload it.")
            ) from None
        try:
            yield workbook
        finally:
            workbook.close()


_MIDNIGHT = dt.time(0, 0)


def _cell_text(value: object) -> str | None:
    """Canonical text of an Excel cell value; None for empty or whitespace-only cells."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value if value.strip() else None  # type: ignore[union-attr]
    if kind is int:
        return str(value)
    if kind is float:
        # Like Excel, keep 15 significant digits: 1980.0000000000002 is 1980.
        number = float(f"{value:.15g}")
        return str(int(number)) if number.is_integer() else repr(number)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is dt.datetime:
        # openpyxl gives datetimes for date-formatted cells too; a date has no time of day.
        if value.time() == _MIDNIGHT:  # type: ignore[union-attr]
            return value.strftime("%Y-%m-%d")  # type: ignore[union-attr]
        return value.strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[union-attr]
    if kind is dt.date:
        return value.isoformat()  # type: ignore[union-attr]
    if kind is dt.time:
        return value.strftime("%H:%M:%S")  # type: ignore[union-attr]
    if kind is dt.timedelta:
        seconds = int(value.total_seconds())  # type: ignore[union-attr]
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    text = str(value)
    return text if text.strip() else None


# ---------------------------------------------------------------------------------------------
# CSV: detection


def _open_csv(path: Path, head: bytes, size: int) -> TabularFile:
    whole = len(head) == size
    encoding, codec, bom = _detect_encoding(path, head, whole)
    unit = 2 if codec.startswith("utf-16") else 1
    decoder = codecs.getincrementaldecoder(codec)("strict")
    body = head[bom:]
    if unit == 2 and not whole:
        body = body[: len(body) // 2 * 2]
    try:
        text = decoder.decode(body, final=whole)
    except UnicodeDecodeError as error:
        raise _decode_error(encoding, bom + error.start, 1, exact=False) from None
    sample = text.encode("utf-8")
    cr_only = b"\r" in sample and b"\n" not in sample
    if cr_only:
        sample = sample.replace(b"\r", b"\n")
    records = _split_records(sample, final=whole)
    leading = 0
    for record in records:
        if not _looks_blank(record):
            header_record = record
            break
        leading += 1
    else:
        if whole:
            raise ImportFileError(
                "empty_file", _("The file contains only blank lines. Choose the file again.")
            )
        raise ImportFileError(
            "no_header",
            _(
                "No header row was found in the first %(size)s of the file. The first row must "
                "hold the column names."
            )
            % {"size": _human_size(SAMPLE_BYTES)},
        )
    sampled = [header_record, *itertools.islice(records, DELIMITER_SAMPLE_RECORDS)]
    delimiter = _detect_delimiter(sampled)
    header = _parse_record(header_record, delimiter)
    if header is None:
        raise ImportFileError(
            "malformed_csv",
            _(
                'The header row has a quote (") that is never closed. Fix the header row and '
                "upload the file again."
            ),
        )
    width = max(len(_parse_record(record, delimiter) or ()) for record in sampled)
    layout = _CsvLayout(
        codec=codec,
        bom=bom,
        unit=unit,
        cr_only=cr_only,
        delimiter=delimiter,
        header_records=leading + 1,
        width=width,
    )
    headers = _make_headers(header)
    if not headers:
        raise ImportFileError(
            "no_header", _("The first row of the file is empty; it must hold the column names.")
        )
    return TabularFile(
        path=path,
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        sheet_name=None,
        _csv=layout,
    )


def _detect_encoding(path: Path, head: bytes, whole: bool) -> tuple[str, str, int]:
    """(reported name, Python codec, BOM length)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "utf-8", 3
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16", "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", "utf-16-be", 2
    window, final = head, whole
    if head.isascii() and not whole:
        # Japanese text may start late (ids and numbers first); decide on the first non-ASCII
        # line, or it would be called UTF-8 and fail deep into the file.
        window, final = _first_non_ascii_window(path, len(head))
        if not window:
            return "utf-8", "utf-8", 0
    if _decodes(window, "utf-8", final):
        return "utf-8", "utf-8", 0
    candidates = [name for name in ("cp932", "euc_jp") if _decodes(window, name, final)]
    # EUC-JP bytes often also decode as cp932 (as half-width katakana): keep the reading that
    # looks like Japanese text.
    if len(candidates) == 2 and _japanese_score(
        window.decode("euc_jp", "ignore")
    ) > _japanese_score(window.decode("cp932", "ignore")):
        candidates.reverse()
    if candidates:
        return candidates[0], candidates[0], 0
    raise ImportFileError(
        "unknown_encoding",
        _(
            "The text encoding of the file could not be recognised (tried UTF-8, Shift_JIS and "
            'EUC-JP). In Excel, save it as "CSV UTF-8" and upload it again.'
        ),
    )


_NON_ASCII = re.compile(rb"[\x80-\xff]")


def _first_non_ascii_window(path: Path, start: int) -> tuple[bytes, bool]:
    with path.open("rb") as file:
        file.seek(start)
        while block := file.read(CHUNK_BYTES):
            if block.isascii():
                continue
            first = _NON_ASCII.search(block).start()  # type: ignore[union-attr]
            line_start = block.rfind(b"\n", 0, first) + 1  # a character boundary in any encoding
            more = file.read(SAMPLE_BYTES)
            return block[line_start:] + more, len(more) < SAMPLE_BYTES
    return b"", True


def _decodes(data: bytes, codec: str, final: bool) -> bool:
    try:
        # Incremental, so a multibyte character cut at the sample's end is not an error.
        codecs.getincrementaldecoder(codec)("strict").decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


_JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff01-\uff5e]")
_UNLIKELY = re.compile(r"[\uff61-\uff9f\ue000-\uf8ff\u0080-\u009f]")


def _japanese_score(text: str) -> int:
    return len(_JAPANESE.findall(text)) - len(_UNLIKELY.findall(text))


def _split_records(data: bytes, *, final: bool) -> Iterator[bytes]:
    """The records of record-aligned UTF-8 ``data`` (a record ends at a newline outside quotes).

    The last, unterminated record is included only when ``final``.
    """
    start = 0
    search = 0
    quotes = 0
    while True:
        newline = data.find(b"\n", search)
        if newline < 0:
            if final and start < len(data):
                yield data[start:]
            return
        quotes += data.count(b'"', search, newline)
        search = newline + 1
        if quotes % 2:
            continue
        yield data[start:search]
        start = search
        quotes = 0


_BLANK_RECORD = str.maketrans("", "", ',;|\t"')


def _looks_blank(record: bytes) -> bool:
    """Only delimiters, quotes and whitespace (whatever the delimiter turns out to be)."""
    return not record.decode("utf-8", "replace").translate(_BLANK_RECORD).strip()


def _parse_record(record: bytes, delimiter: str) -> list[str] | None:
    """The cells of one record; None if it cannot be parsed (a quote never closed)."""
    reader = csv.reader(
        io.StringIO(record.decode("utf-8", "replace"), newline=""), delimiter=delimiter
    )
    try:
        return next(reader, [])
    except csv.Error:
        return None


def _detect_delimiter(records: list[bytes]) -> str:
    """The delimiter giving the header more than one field and the most rows of the same width."""
    best: tuple[float, int] | None = None
    chosen = ","
    for priority, delimiter in enumerate(DELIMITERS):
        widths = []
        for record in records:
            cells = _parse_record(record, delimiter)
            if cells and any(cell.strip() for cell in cells):
                widths.append(len(cells))
        if not widths or widths[0] < 2:
            continue
        rows = widths[1:]
        consistency = sum(width == widths[0] for width in rows) / len(rows) if rows else 1.0
        score = (consistency, -priority)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _make_headers(cells: Iterable[str | None]) -> list[str]:
    """Stripped header names; empty ones named column_<n>; duplicates suffixed " (2)", " (3)"."""
    names = [(cell or "").strip().lstrip("\ufeff").strip() for cell in cells]
    # Trailing empty header cells are formatting leftovers (Excel exports "a,b,,"); any values
    # below them still reach the pipeline in __extra.
    while names and not names[-1]:
        names.pop()
    taken = {ROW, EXTRA}
    headers = []
    for position, name in enumerate(names, start=1):
        base = name or f"column_{position}"
        candidate, copy = base, 1
        while candidate in taken:
            copy += 1
            candidate = f"{base} ({copy})"
        taken.add(candidate)
        headers.append(candidate)
    return headers


# ---------------------------------------------------------------------------------------------
# CSV: streaming


class _BadBytes(Exception):
    """Internal: undecodable bytes at ``offset``; becomes ImportFileError('decode_error')."""

    def __init__(self, offset: int, pending: bytes) -> None:
        super().__init__(offset)
        self.offset = offset  # byte offset in the file
        self.pending = pending  # UTF-8 text since the last piece handed out, up to the bad bytes


@dataclass
class _Piece:
    data: bytes  # whole records, UTF-8
    offset: int  # byte offset of data in the file (exact for UTF-8, else of the raw block)


@dataclass
class _Rest:
    blocks: Iterator[bytes]  # the rest of the file as UTF-8, from a record start


def _decode_error(encoding: str | None, offset: int | None, row: int, *, exact: bool = True):
    """A decoding problem at a known row and byte, or (``exact=False``) somewhere after ``row``."""
    values = {"encoding": encoding, "offset": f"{offset or 0:,}", "row": f"{row:,}"}
    if exact and offset is not None:
        message = _(
            "Row %(row)s (byte %(offset)s) contains bytes that are not valid %(encoding)s text; "
            "the file may mix encodings or be damaged. Fix that row, or save the file again as "
            '"CSV UTF-8", and upload it again.'
        )
    else:
        message = _(
            "After row %(row)s the file contains bytes that are not valid %(encoding)s text; "
            "the file may mix encodings or be damaged. Fix it, or save it again as "
            '"CSV UTF-8", and upload it again.'
        )
    return ImportFileError("decode_error", message % values)


def _last_line_end(buf: bytes, eol: bytes, unit: int) -> int:
    """Index just past the last line end in ``buf`` (aligned to the code unit), 0 if none."""
    pos = buf.rfind(eol)
    while pos > 0 and pos % unit:
        pos = buf.rfind(eol, 0, pos + len(eol) - 1)
    return pos + len(eol) if pos >= 0 else 0


# For counting only: every non-ASCII byte becomes "x" (see TabularFile._csv_count_masked).
_MASK_NON_ASCII = bytes(range(128)) + b"x" * 128
_FULL_WIDTH_SPACE = {"cp932": b"\x81\x40", "euc_jp": b"\xa1\xa1"}


def _utf8_blocks(
    path: Path, layout: _CsvLayout, chunk_bytes: int, *, masked: bool = False
) -> Iterator[tuple[int, bytes]]:
    """(file offset, UTF-8 bytes) blocks of the text after the BOM.

    Other encodings are cut at a line end before decoding: a newline byte (or UTF-16 unit) is
    never part of a multibyte character in them, so each part decodes on its own and a bad byte
    is reported at its exact offset. ``masked`` yields ASCII stand-ins instead (counting only).
    """
    plain = layout.codec == "utf-8" and not layout.cr_only
    transcode = layout.codec != "utf-8" and not masked
    eol = ("\r" if layout.cr_only else "\n").encode(layout.codec if transcode else "ascii")
    with path.open("rb") as file:
        file.seek(layout.bom)
        offset = layout.bom
        carry = b""
        while True:
            data = file.read(chunk_bytes)
            if plain:
                # UTF-8 needs no cut here (_record_pieces cuts) and is validated by polars.
                if not data:
                    return
                yield offset, data
                offset += len(data)
                continue
            buf = carry + data if carry else data
            if not data:
                if buf:
                    yield offset, _to_utf8(buf, offset, layout, transcode, masked)
                return
            cut = _last_line_end(buf, eol, layout.unit)
            if not cut:
                carry = buf
                if len(carry) > MAX_RECORD_BYTES:
                    raise _too_long_line()
                continue
            part, carry = buf[:cut], buf[cut:]
            yield offset, _to_utf8(part, offset, layout, transcode, masked)
            offset += cut


def _too_long_line() -> ImportFileError:
    return ImportFileError(
        "malformed_csv",
        _(
            "The file has a line longer than %(size)s; it is not a table of customer or purchase "
            "rows. Check the file and upload it again."
        )
        % {"size": _human_size(MAX_RECORD_BYTES)},
    )


def _to_utf8(part: bytes, offset: int, layout: _CsvLayout, transcode: bool, masked: bool) -> bytes:
    if masked:
        space = _FULL_WIDTH_SPACE.get(layout.codec)
        if space:
            part = part.replace(space, b"  ")
        part = part.translate(_MASK_NON_ASCII)
    elif transcode:
        try:
            part = part.decode(layout.codec).encode("utf-8")
        except UnicodeDecodeError as error:
            good = part[: error.start].decode(layout.codec).encode("utf-8")
            raise _BadBytes(offset + error.start, good) from None
    if layout.cr_only:
        part = part.replace(b"\r", b"\n")
    return part


def _record_cut(buf: bytes, odd: bool = False) -> int:
    """Index just past the last newline outside quotes, 0 if none.

    A newline is inside quotes iff an odd number of '"' precede it since the start of the
    record (``odd``: the text before ``buf`` leaves a quote open); doubled quotes keep the parity.
    """
    pos = buf.rfind(b"\n")
    if pos < 0:
        return 0
    if not odd and buf.find(b'"', 0, pos) < 0:
        return pos + 1  # no quotes at all: find() is memchr-fast, count() is not
    quotes = buf.count(b'"', 0, pos) + odd
    while quotes % 2:
        previous = buf.rfind(b"\n", 0, pos)
        if previous < 0:
            return 0
        quotes -= buf.count(b'"', previous, pos)
        pos = previous
    return pos + 1


def _count_records(data: bytes) -> int:
    """Complete records in record-aligned UTF-8 ``data``."""
    return sum(1 for _record in _split_records(data, final=False))


def _record_pieces(blocks: Iterator[tuple[int, bytes]]) -> Iterator[_Piece | _Rest]:
    """Whole-record pieces of the UTF-8 stream; a ``_Rest`` if a record never ends."""
    carry = b""  # the unfinished record after the last piece
    carry_offset = 0
    while True:
        try:
            offset, block = next(blocks)
        except StopIteration:
            break
        except _BadBytes as error:
            # Add the text not handed out yet, so the row number can be worked out.
            raise _BadBytes(error.offset, carry + error.pending) from None
        if not carry:
            carry_offset = offset
        # Cut the block, not carry + block: one copy of the data per piece instead of two.
        cut = _record_cut(block, bool(carry.count(b'"') % 2))
        if not cut:
            carry += block
            if len(carry) > MAX_RECORD_BYTES:
                # Unbalanced quotes: let the csv module read the rest, record by record.
                yield _Rest(_chain_blocks(carry, blocks))
                return
            continue
        yield _Piece(carry + block[:cut] if carry else block[:cut], carry_offset)
        carry, carry_offset = block[cut:], offset + cut
    if carry:
        yield _Piece(carry, carry_offset)


def _chain_blocks(first: bytes, blocks: Iterator[tuple[int, bytes]]) -> Iterator[bytes]:
    yield first
    for _offset, block in blocks:
        yield block


class _BlockStream(io.RawIOBase):
    """A read-only binary stream over an iterator of byte blocks (for io.TextIOWrapper)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:  # type: ignore[override]
        while not self._buffer:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._buffer = memoryview(block)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class _PieceParser:
    """Parse record-aligned UTF-8 pieces into raw frames (columns c0..cN, all String)."""

    def __init__(self, layout: _CsvLayout, encoding: str | None) -> None:
        self.delimiter = layout.delimiter
        self.encoding = encoding
        self.width = layout.width

    def parse(self, data: bytes, offset: int, first_row: int) -> pl.DataFrame:
        try:
            return pl.read_csv(
                data,
                has_header=False,
                separator=self.delimiter,
                quote_char='"',
                infer_schema=False,
                schema={f"c{i}": pl.String for i in range(self.width)},
                null_values=[""],  # a quoted empty cell ("") is null too
                missing_columns="insert",  # short records: padded with nulls
                truncate_ragged_lines=False,  # long records: an error, handled below
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError:
            pass
        # Rare: a record wider than any seen so far, a stray quote, or invalid UTF-8.
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            row = first_row + _count_records(data[: error.start])
            raise _decode_error(self.encoding, offset + error.start, row) from None
        records = self._reader(io.StringIO(text, newline=""))
        return self._records_frame(self._collect(records, None, first_row))

    def stream(self, blocks: Iterator[bytes], first_row: int) -> Iterator[tuple[int, pl.DataFrame]]:
        """Frames from the csv module over the rest of the stream (after unbalanced quotes)."""
        text = io.TextIOWrapper(
            io.BufferedReader(_BlockStream(blocks), PREVIEW_CHUNK_BYTES),
            encoding="utf-8",
            newline="",
        )
        records = self._reader(text)
        row = first_row
        while rows := self._collect(records, FALLBACK_RECORDS, row):
            frame = self._records_frame(rows)
            yield row, frame
            row += frame.height

    def _reader(self, text: Iterable[str]) -> Iterator[list[str]]:
        return csv.reader(
            text, delimiter=self.delimiter, quotechar='"', doublequote=True, strict=False
        )

    def _collect(
        self, records: Iterator[list[str]], limit: int | None, first_row: int
    ) -> list[list[str]]:
        rows: list[list[str]] = []
        try:
            for record in records:
                rows.append(record)
                if limit is not None and len(rows) >= limit:
                    break
        except csv.Error:
            raise ImportFileError(
                "malformed_csv",
                _(
                    "Row %(row)s could not be read: a quoted value is never closed or is longer "
                    "than 128 KB. Check the quotes in that row and upload the file again."
                )
                % {"row": f"{first_row + len(rows):,}"},
            ) from None
        except (UnicodeDecodeError, _BadBytes):
            # Only in the csv-module path: the text is decoded ahead of the records read, so
            # the row is a lower bound.
            raise _decode_error(self.encoding, None, first_row + len(rows), exact=False) from None
        return rows

    def _records_frame(self, rows: list[list[str]]) -> pl.DataFrame:
        width = max(self.width, max((len(row) for row in rows), default=0))
        self.width = width  # later pieces are parsed this wide by polars
        padded = [row + [""] * (width - len(row)) if len(row) < width else row for row in rows]
        columns = list(zip(*padded, strict=True)) if padded else [()] * width
        frame = pl.DataFrame(
            [pl.Series(f"c{i}", column, dtype=pl.String) for i, column in enumerate(columns)]
        )
        # Empty cells are null, as polars reads them.
        return frame.select(
            pl.when(pl.col(name) != "").then(pl.col(name)) for name in frame.columns
        )


def _contiguous(batch: pl.DataFrame) -> pl.DataFrame:
    """``batch`` with each column in one piece of memory. A batch is cut from the frames of
    several pieces of the file, each in several chunks; normalising it chunk by chunk, op after
    op, costs more than copying it together once (a tenth of the normalising, per million rows)."""
    return batch.rechunk()


def _not_blank(column: pl.Expr) -> pl.Expr:
    """Whether a cell holds more than whitespace (Unicode White_Space, so U+3000, the full-width
    space, is blank too). Stripping the leading whitespace and comparing is half the cost of a
    regex search for a non-space character, and the same test."""
    return column.str.strip_chars_start() != ""


def _blank_to_null(name: str) -> pl.Expr:
    column = pl.col(name)
    return pl.when(_not_blank(column)).then(column)


def _count_non_empty(raw: pl.DataFrame) -> int:
    if not raw.height or not raw.width:
        return 0
    # Per-column flags first: a select of independent columns runs them in parallel.
    flags = raw.select(_not_blank(pl.col(name)) for name in raw.columns)
    return int(flags.select(pl.any_horizontal(pl.all()).fill_null(False).sum()).item())


def _finish(raw: pl.DataFrame, first_row: int, headers: list[str]) -> pl.DataFrame:
    """Raw frame -> batch shape (__row, headers..., __extra), entirely blank records dropped.

    The header columns are passed on as polars read them (an empty cell is null): a cell of
    whitespace only is empty to every normaliser already, and turning each such cell into a
    null here would cost a test of every cell of the file. Cells past the last header are
    joined into ``__extra`` without the blank ones.
    """
    width = raw.width
    exprs = [pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).alias(ROW)]
    for i, name in enumerate(headers):
        if i < width:
            exprs.append(pl.col(f"c{i}").alias(name))
        else:
            exprs.append(pl.lit(None, dtype=pl.String).alias(name))
    extra = [_blank_to_null(f"c{i}") for i in range(len(headers), width)]
    if extra:
        joined = pl.concat_str(extra, separator=EXTRA_SEPARATOR, ignore_nulls=True)
        exprs.append(pl.when(joined != "").then(joined).alias(EXTRA))
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias(EXTRA))
    frame = raw.select(exprs)
    keep = _not_blank_records(frame, [*headers[:width], EXTRA])
    return frame if keep.all() else frame.filter(keep)


def _not_blank_records(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Whether each record holds a cell that is more than whitespace.

    Settled by the fullest column first (most records have a value there); only the records
    it leaves open are looked at cell by cell.
    """
    counts = [frame[name].null_count() for name in columns]
    first = columns[counts.index(min(counts))]
    keep = frame.select(_not_blank(pl.col(first)).fill_null(False)).to_series()
    rest = [name for name in columns if name != first]
    open_rows = (~keep).arg_true()
    if len(open_rows) and rest:
        flags = frame.select(rest)[open_rows].select(
            pl.any_horizontal(_not_blank(pl.col(name)) for name in rest).fill_null(False)
        )
        keep.scatter(open_rows, flags.to_series())
    return keep
