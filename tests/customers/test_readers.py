"""customers.importing.readers: sniffing, safety checks, encodings, CSV/XLSX streaming, row numbers.

Every fixture file is built in tmp_path by the test that uses it.
"""

from __future__ import annotations

import datetime as dt
import io
import pickle
import random
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from customers.importing import readers
from customers.importing.readers import ImportFileError, TabularFile, open_tabular

pytestmark = pytest.mark.usefixtures("english")

LIMIT = 10**9


def write(tmp_path: Path, data: str | bytes, *, encoding: str = "utf-8", name="upload.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def open_file(path: Path, **kwargs) -> TabularFile:
    return open_tabular(path, max_bytes=kwargs.pop("max_bytes", LIMIT), **kwargs)


def read_all(tabular: TabularFile, batch_rows: int = 100_000) -> list[dict]:
    return [row for batch in tabular.batches(batch_rows) for row in batch.to_dicts()]


def refused(path: Path, **kwargs) -> ImportFileError:
    with pytest.raises(ImportFileError) as caught:
        open_file(path, **kwargs)
    return caught.value


def row_values(rows: list[dict], *columns: str) -> list[tuple]:
    return [tuple(row[column] for column in ("__row", *columns)) for row in rows]


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Force chunk boundaries everywhere (inside characters, quotes and records)."""

    def set_size(size: int) -> None:
        monkeypatch.setattr(readers, "CHUNK_BYTES", size)
        monkeypatch.setattr(readers, "PREVIEW_CHUNK_BYTES", size)

    return set_size


# -- CSV: shape, encodings, delimiters --------------------------------------------------------


def test_utf8_csv_batches_have_row_headers_and_extra_columns(tmp_path):
    path = write(tmp_path, "id,name,phone\n1,山田 太郎,090-1111-2222\n2, 佐藤 ,\n")
    tabular = open_file(path)

    assert (tabular.format, tabular.encoding, tabular.delimiter) == ("csv", "utf-8", ",")
    assert tabular.headers == ["id", "name", "phone"]
    assert tabular.sheet_name is None
    batch = next(tabular.batches())
    assert batch.columns == ["__row", "id", "name", "phone", "__extra"]
    assert batch.schema == pl.Schema(
        {
            "__row": pl.Int64,
            "id": pl.String,
            "name": pl.String,
            "phone": pl.String,
            "__extra": pl.String,
        }
    )
    # Inner values are untouched (the spaces around 佐藤 stay); empty cells are null.
    assert batch.rows() == [
        (2, "1", "山田 太郎", "090-1111-2222", None),
        (3, "2", " 佐藤 ", None, None),
    ]
    assert tabular.count_rows() == 2


def test_utf8_bom_is_detected_and_not_part_of_the_first_header(tmp_path):
    path = write(tmp_path, "\ufeff顧客ID,氏名\r\nC1,髙橋\r\n")
    tabular = open_file(path)
    assert tabular.encoding == "utf-8-sig"
    assert tabular.headers == ["顧客ID", "氏名"]
    assert row_values(read_all(tabular), "顧客ID", "氏名") == [(2, "C1", "髙橋")]


def test_shift_jis_with_nec_and_ibm_extension_characters(tmp_path):
    # ① and ㈱ are NEC specials, 髙 an IBM extension: cp932 has them, plain Shift_JIS does not.
    text = "氏名,メモ,会社\r\n髙橋 一郎,①番,㈱テスト\r\n\u3000,\u3000 ,\r\n斎藤,ﾊﾝｶｸ,\r\n"
    tabular = open_file(write(tmp_path, text, encoding="cp932"))
    assert tabular.encoding == "cp932"
    rows = read_all(tabular)
    # The row of full-width spaces only is empty: skipped, but counted for the row numbers.
    assert row_values(rows, "氏名", "メモ", "会社") == [
        (2, "髙橋 一郎", "①番", "㈱テスト"),
        (4, "斎藤", "ﾊﾝｶｸ", None),
    ]
    assert tabular.count_rows() == 2


def test_euc_jp_is_recognised_even_where_the_bytes_also_decode_as_cp932(tmp_path):
    # Kana-only EUC-JP bytes are also valid cp932 (as half-width katakana): the reading that
    # looks like Japanese must win.
    text = "なまえ,ふりがな\nやまだ,やまだ たろう\nさとう,さとう はなこ\n"
    assert text.encode("euc_jp").decode("cp932")  # the ambiguity is real
    tabular = open_file(write(tmp_path, text, encoding="euc_jp"))
    assert tabular.encoding == "euc_jp"
    assert tabular.headers == ["なまえ", "ふりがな"]
    assert row_values(read_all(tabular), "なまえ") == [(2, "やまだ"), (3, "さとう")]
    assert tabular.count_rows() == 2


def test_euc_jp_with_kanji(tmp_path):
    tabular = open_file(write(tmp_path, "氏名,住所\n山田,東京都千代田区\n", encoding="euc_jp"))
    assert tabular.encoding == "euc_jp"
    assert row_values(read_all(tabular), "氏名", "住所") == [(2, "山田", "東京都千代田区")]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_tab_separated_like_excel_unicode_text(tmp_path, codec):
    bom = "\ufeff".encode(codec)
    text = '氏名\t電話\r\n山田\t"090, 携帯"\r\n\r\n𠮷野\t03\r\n'
    tabular = open_file(write(tmp_path, bom + text.encode(codec)))
    assert (tabular.encoding, tabular.delimiter) == ("utf-16", "\t")
    assert row_values(read_all(tabular), "氏名", "電話") == [
        (2, "山田", "090, 携帯"),
        (4, "𠮷野", "03"),
    ]
    assert tabular.count_rows() == 2


@pytest.mark.parametrize(
    ("delimiter", "text"),
    [
        (",", "a,b,c\n1,x;y|z,3\n4,5,6\n"),
        ("\t", "a\tb\tc\n1\tx,y;z\t3\n4\t5\t6\n"),
        (";", "a;b;c\n1;2,5;3\n4;5;6\n"),
        ("|", "a|b|c\n1|x,y|3\n4|5|6\n"),
    ],
)
def test_delimiter_is_detected(tmp_path, delimiter, text):
    tabular = open_file(write(tmp_path, text))
    assert tabular.delimiter == delimiter
    assert tabular.headers == ["a", "b", "c"]
    rows = read_all(tabular)
    assert [row["__row"] for row in rows] == [2, 3]
    assert rows[0]["c"] == "3"
    assert rows[1]["b"] == "5"


def test_pipe_delimited_cp932_counts_exactly(tmp_path):
    # "ポ" is 0x83 0x7C in cp932: its trail byte is "|". Counting must not split it.
    text = "商品|数\nポット|1\nポンプ|2\n"
    tabular = open_file(write(tmp_path, text, encoding="cp932"))
    assert (tabular.encoding, tabular.delimiter) == ("cp932", "|")
    assert row_values(read_all(tabular), "商品", "数") == [(2, "ポット", "1"), (3, "ポンプ", "2")]
    assert tabular.count_rows() == 2


def test_single_column_file_uses_comma(tmp_path):
    tabular = open_file(write(tmp_path, "電話番号\n09011112222\n\n08033334444\n"))
    assert tabular.delimiter == ","
    assert tabular.headers == ["電話番号"]
    assert row_values(read_all(tabular), "電話番号") == [(2, "09011112222"), (4, "08033334444")]


# -- CSV: quoting, line endings, blank and ragged records --------------------------------------


def test_quotes_with_delimiters_doubled_quotes_and_newlines_keep_record_numbers(tmp_path):
    text = (
        "id,memo,name\r\n"
        '1,"a, b",x\r\n'
        '2,"say ""hi""",y\r\n'
        '3,"line one\r\nline two\r\nline three",z\r\n'
        '4,"",w\r\n'
    )
    tabular = open_file(write(tmp_path, text))
    rows = read_all(tabular)
    assert row_values(rows, "id", "memo", "name") == [
        (2, "1", "a, b", "x"),
        (3, "2", 'say "hi"', "y"),
        (4, "3", "line one\r\nline two\r\nline three", "z"),
        (5, "4", None, "w"),  # record number + 1, not the physical line
    ]


def test_old_mac_line_endings(tmp_path):
    tabular = open_file(write(tmp_path, "a,b\r1,2\r\r3,4\r"))
    assert row_values(read_all(tabular), "a", "b") == [(2, "1", "2"), (4, "3", "4")]


def test_blank_lines_whitespace_and_delimiter_only_records_are_skipped_but_counted(tmp_path):
    text = "\n\nname,city\nA,Tokyo\n\n   \n,,\n , \nB,Osaka\n\n\n"
    tabular = open_file(write(tmp_path, text))
    assert tabular.headers == ["name", "city"]
    rows = read_all(tabular)
    assert row_values(rows, "name", "city") == [(4, "A", "Tokyo"), (9, "B", "Osaka")]
    assert tabular.count_rows() == 2


def test_a_record_counts_when_any_cell_has_content_not_only_its_fullest_column(tmp_path):
    # "id" is the fullest column; the records without an id are decided by their other cells.
    text = "id,name,city\n1,A,Tokyo\n2,B,\n , ,Osaka\n,\u3000,\n3,,\n, ,, extra \n"
    tabular = open_file(write(tmp_path, text))
    rows = read_all(tabular)
    assert row_values(rows, "id", "city", "__extra") == [
        (2, "1", "Tokyo", None),
        (3, "2", None, None),
        (4, " ", "Osaka", None),
        (6, "3", None, None),
        (7, None, None, " extra "),
    ]


def test_empty_cells_are_null_and_whitespace_only_cells_come_as_they_are(tmp_path):
    # Quoted or not, an empty cell is null; whitespace is left to the normalisers (all of them
    # read it as empty), so the reader does not test every cell for it.
    tabular = open_file(write(tmp_path, 'a,b,c\n1,"", \n2,,"\u3000"\n'))
    assert row_values(read_all(tabular), "a", "b", "c") == [
        (2, "1", None, " "),
        (3, "2", None, "\u3000"),
    ]


def test_ragged_rows_are_padded_or_spill_into_extra(tmp_path):
    text = "a,b,c\n1\n1,2,3,4,,5\n1,2,3,, \n1,2\n"
    tabular = open_file(write(tmp_path, text))
    rows = read_all(tabular)
    assert row_values(rows, "a", "b", "c", "__extra") == [
        (2, "1", None, None, None),
        (3, "1", "2", "3", "4 | 5"),  # empty extra cells are left out
        (4, "1", "2", "3", None),
        (5, "1", "2", None, None),
    ]


def test_record_wider_than_the_sample_far_into_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 64)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64)
    lines = ["a,b"] + [f"{i},x" for i in range(60)] + ["wide,1,2,3,4,5,6"] + ["last,y"]
    tabular = open_file(write(tmp_path, "\n".join(lines) + "\n"))
    rows = read_all(tabular)
    assert len(rows) == 62
    assert row_values(rows[-2:], "a", "b", "__extra") == [
        (62, "wide", "1", "2 | 3 | 4 | 5 | 6"),
        (63, "last", "y", None),
    ]
    assert tabular.count_rows() == 62


def test_duplicate_empty_and_trailing_empty_headers(tmp_path):
    text = "電話番号, 電話番号 ,,電話番号,__row,名前,,\n1,2,3,4,5,6,7,8\n"
    tabular = open_file(write(tmp_path, text))
    assert tabular.headers == [
        "電話番号",
        "電話番号 (2)",
        "column_3",
        "電話番号 (3)",
        "__row (2)",
        "名前",
    ]
    (row,) = read_all(tabular)
    assert row["__row"] == 2
    assert row["column_3"] == "3"
    assert row["__row (2)"] == "5"
    assert row["__extra"] == "7 | 8"  # values below the trimmed trailing headers are kept


def test_stray_quote_inside_an_unquoted_cell(tmp_path):
    text = 'code,name\n1,27" monitor\n2,"quoted, ok"\n3,plain\n'
    rows = read_all(open_file(write(tmp_path, text)))
    assert row_values(rows, "code", "name") == [
        (2, "1", '27" monitor'),
        (3, "2", "quoted, ok"),
        (4, "3", "plain"),
    ]


def test_single_stray_quote_does_not_buffer_the_rest_of_the_file(tmp_path, monkeypatch):
    # One unbalanced quote makes every later newline look quoted; past MAX_RECORD_BYTES the
    # rest is read by the csv module instead of being buffered whole.
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 256)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64)
    monkeypatch.setattr(readers, "FALLBACK_RECORDS", 10)
    lines = ["code,name", '1,27" monitor'] + [f"{i},item {i}" for i in range(2, 80)]
    tabular = open_file(write(tmp_path, "\n".join(lines) + "\n"))
    rows = read_all(tabular, batch_rows=7)
    assert len(rows) == 79
    assert row_values(rows[:2], "code", "name") == [(2, "1", '27" monitor'), (3, "2", "item 2")]
    assert row_values(rows[-1:], "code", "name") == [(80, "79", "item 79")]
    assert tabular.count_rows() == 79


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_bad_bytes_after_a_stray_quote_are_still_reported(tmp_path, monkeypatch, encoding):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 128)
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 256)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64)
    monkeypatch.setattr(readers, "PREVIEW_CHUNK_BYTES", 64)
    lines = ["code,name", '1,27" モニター'] + [f"{i},品目 {i}" for i in range(2, 80)]
    data = ("\n".join(lines) + "\n").encode(encoding) + b"80,\x81\x20\xff\n"
    with pytest.raises(ImportFileError) as caught:
        read_all(open_file(write(tmp_path, data)))  # open's preview may already hit it
    assert caught.value.code == "decode_error"
    assert "After row" in caught.value.message


def test_quote_never_closed_is_reported_with_its_row(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 1024)
    body = "\n".join(f"{i},text {i}" for i in range(3, 30_000))
    path = write(tmp_path, 'id,memo\n1,ok\n2,"never closed\n' + body + "\n")
    tabular = open_file(path)
    with pytest.raises(ImportFileError) as caught:
        read_all(tabular)
    assert caught.value.code == "malformed_csv"
    assert "Row 3" in caught.value.message


# -- CSV: chunk boundaries ----------------------------------------------------------------------

BOUNDARY_TEXT = (
    "氏名,メモ,金額\r\n"
    '髙橋①,"改行\r\nを含む ""引用"" ,カンマ",1000\r\n'
    "\r\n"
    "佐藤,,2000,余り\r\n"
    '"複数\n行\n\n目",値,3000\r\n'
    "鈴木,最後,4000"
)
BOUNDARY_ROWS = [
    (2, "髙橋①", '改行\r\nを含む "引用" ,カンマ', "1000", None),
    (4, "佐藤", None, "2000", "余り"),
    (5, "複数\n行\n\n目", "値", "3000", None),
    (6, "鈴木", "最後", "4000", None),
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "euc_jp", "utf-16"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 13, 64, 1 << 20])
def test_chunk_boundaries_inside_characters_quotes_and_records(
    tmp_path, tiny_chunks, encoding, chunk
):
    tiny_chunks(chunk)
    text, expected = BOUNDARY_TEXT, BOUNDARY_ROWS
    if encoding == "euc_jp":  # EUC-JP has neither 髙 nor ①
        text = text.replace("髙橋①", "高橋")
        expected = [(2, "高橋", *BOUNDARY_ROWS[0][2:]), *BOUNDARY_ROWS[1:]]
    tabular = open_file(write(tmp_path, text, encoding=encoding))
    assert tabular.encoding == encoding
    for batch_rows in (1, 3, 100):
        rows = read_all(tabular, batch_rows)
        assert row_values(rows, "氏名", "メモ", "金額", "__extra") == expected
    assert tabular.count_rows() == 4
    assert tabular.preview(2).rows() == expected[:2]


@pytest.mark.parametrize("chunk", range(1, 41))
def test_utf16_newline_byte_pair_at_an_odd_offset_is_not_a_line_end(tmp_path, tiny_chunks, chunk):
    # "ਅ" (U+0A05) then U+3000 is 05 0A 00 30 in UTF-16-LE: "\n\x00" at an odd offset.
    tiny_chunks(chunk)
    text = "\ufeffa,b\r\nਅ\u3000x,1\r\nਅ\u3000,2\r\n"
    tabular = open_file(write(tmp_path, text.encode("utf-16-le")))
    assert row_values(read_all(tabular), "a", "b") == [(2, "ਅ\u3000x", "1"), (3, "ਅ\u3000", "2")]


def test_batch_rows_must_be_positive(tmp_path):
    tabular = open_file(write(tmp_path, "a\n1\n"))
    with pytest.raises(ValueError):
        next(tabular.batches(0))


def test_batches_are_full_except_the_last(tmp_path, tiny_chunks):
    tiny_chunks(50)
    text = "n\n" + "".join(f"{i}\n" for i in range(1, 1001))
    tabular = open_file(write(tmp_path, text))
    heights = [batch.height for batch in tabular.batches(300)]
    assert heights == [300, 300, 300, 100]
    rows = read_all(tabular, 300)
    assert rows[0]["__row"] == 2
    assert rows[-1] == {"__row": 1001, "n": "1000", "__extra": None}


def test_preview_has_the_shape_of_batches(tmp_path):
    tabular = open_file(write(tmp_path, "a,b\n1,2\n3,4\n5,6\n"))
    preview = tabular.preview(2)
    assert preview.schema == next(tabular.batches()).schema
    assert preview["__row"].to_list() == [2, 3]


# -- CSV: encoding problems -----------------------------------------------------------------------


def test_japanese_text_appearing_only_after_the_sample_decides_the_encoding(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 128)
    text = "id,name\n" + "".join(f"{i},abc\n" for i in range(100)) + "100,山田\n"
    tabular = open_file(write(tmp_path, text, encoding="cp932"))
    assert tabular.encoding == "cp932"
    assert read_all(tabular)[-1] == {"__row": 102, "id": "100", "name": "山田", "__extra": None}


def test_all_ascii_file_is_utf8(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 16)
    tabular = open_file(write(tmp_path, "id,name\n1,abc\n2,def\n"))
    assert tabular.encoding == "utf-8"


def test_invalid_utf8_after_the_sample_names_row_and_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 64)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 32)
    monkeypatch.setattr(readers, "PREVIEW_CHUNK_BYTES", 32)
    head = 'id,name\n1,山田\n2,"a\nb"\n3,佐藤 太郎 東京都千代田区丸の内一丁目\n'.encode()
    assert len(head) > 64
    data = head + b"4,bad\xff\n5,ok\n"
    tabular = open_file(write(tmp_path, data))
    assert tabular.encoding == "utf-8"
    for action in (tabular.count_rows, lambda: read_all(tabular)):
        with pytest.raises(ImportFileError) as caught:
            action()
        assert caught.value.code == "decode_error"
        assert "Row 5" in caught.value.message
        assert f"byte {len(head) + 5}" in caught.value.message


def test_invalid_cp932_after_the_sample_names_row_and_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 64)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 16)
    monkeypatch.setattr(readers, "PREVIEW_CHUNK_BYTES", 16)
    head = "id,name\n1,山田\n2,佐藤\n3,鈴木\n4,高橋\n5,田中 一郎 東京都千代田区丸の内\n".encode(
        "cp932"
    )
    assert len(head) > 64
    data = head + b"6,\x81\x20bad\n7,ok\n"
    tabular = open_file(write(tmp_path, data))
    assert tabular.encoding == "cp932"
    with pytest.raises(ImportFileError) as caught:
        read_all(tabular)
    assert caught.value.code == "decode_error"
    assert "Row 7" in caught.value.message
    assert f"byte {len(head) + 2}" in caught.value.message


def test_unknown_encoding(tmp_path):
    error = refused(write(tmp_path, b"id,name\n1,\x81 x\xff\n"))
    assert error.code == "unknown_encoding"


# -- CSV: empty, header only, limits ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty_file"),
        (b"\n\n \r\n", "empty_file"),
        (b"id,name\n", "empty_file"),
        (b"id,name\n\n,\n  \n", "empty_file"),
        ("\ufeff氏名\r\n".encode("utf-8"), "empty_file"),
    ],
)
def test_empty_and_header_only_files(tmp_path, data, code):
    error = refused(write(tmp_path, data))
    assert error.code == code
    assert error.message


def test_header_not_found_in_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "SAMPLE_BYTES", 64)
    error = refused(write(tmp_path, "x" * 200 + "\n1\n"))
    assert error.code == "no_header"


def test_too_large_is_checked_first(tmp_path):
    path = write(tmp_path, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, name="picture.csv")
    error = refused(path, max_bytes=50)
    assert error.code == "too_large"
    assert "108 B" in error.message


def test_too_many_rows(tmp_path):
    path = write(tmp_path, "id\n" + "".join(f"{i}\n\n" for i in range(10)))
    tabular = open_file(path, max_rows=9)
    with pytest.raises(ImportFileError) as caught:
        tabular.count_rows()
    assert caught.value.code == "too_many_rows"
    with pytest.raises(ImportFileError):
        read_all(tabular, batch_rows=2)
    assert open_file(path, max_rows=10).count_rows() == 10


# -- sniffing by content ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "legacy_xls"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\x00" * 600
            + "EncryptedPackage".encode("utf-16-le")
            + b"\x00" * 64,
            "encrypted",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not_tabular"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "not_tabular"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "not_tabular"),
        (b"GIF89a\x01\x00", "not_tabular"),
        (b"PK\x05\x06" + b"\x00" * 18, "not_tabular"),
        (b"id,name\n1,\x00\x01\x02\n", "not_tabular"),
        (b"<html><body><table><tr><td>1</td></tr></table></body></html>", "not_tabular"),
        (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
            "not_tabular",
        ),
    ],
)
def test_files_that_are_not_csv_or_xlsx_are_refused_by_content(tmp_path, data, code):
    error = refused(write(tmp_path, data, name="customers.csv"))
    assert error.code == code
    assert error.message
    assert str(error) == error.message


def test_import_file_error_survives_pickling():
    error = pickle.loads(pickle.dumps(ImportFileError("too_large", "The file is 3 GB.")))
    assert (error.code, error.message, str(error)) == (
        "too_large",
        "The file is 3 GB.",
        "The file is 3 GB.",
    )


def test_csv_named_xlsx_is_read_as_csv(tmp_path):
    tabular = open_file(write(tmp_path, "a,b\n1,2\n", name="customers.xlsx"))
    assert tabular.format == "csv"


# -- XLSX ------------------------------------------------------------------------------------------


def make_workbook(path: Path, rows: list[list], *, hidden_first: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    if hidden_first:
        sheet.title = "hidden"
        sheet.append(["not", "this"])
        sheet.append([1, 2])
        sheet.sheet_state = "hidden"
        sheet = workbook.create_sheet("顧客")
    else:
        sheet.title = "顧客"
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_values_are_canonical_strings(tmp_path):
    path = make_workbook(
        tmp_path / "customers.csv",  # the name lies: the content decides
        [
            [None, None],
            ["電話番号", "登録日", "時刻", "金額", "率", "有効", "件数", "電話番号", None, None],
            [
                "09012345678",
                dt.datetime(2024, 3, 1),
                dt.datetime(2024, 3, 1, 14, 5, 9),
                1980.0,
                0.1 + 0.2,
                True,
                42,
                " ",
                None,
                None,
            ],
            [None, None, None],
            [
                "0312345678",
                dt.date(2023, 12, 31),
                dt.time(9, 30),
                1234.5,
                1e-05,
                False,
                -7,
                None,
                "x",
                "y",
            ],
            [None, None, dt.timedelta(hours=26, minutes=3)],
        ],
        hidden_first=True,
    )
    with path.open("rb") as file:  # openpyxl goes by the name; the test file's name lies
        workbook = openpyxl.load_workbook(file)
    for row in range(20, 30):  # styled but empty trailing rows
        workbook["顧客"].cell(row=row, column=1).number_format = "@"
    workbook.save(path)

    tabular = open_file(path)
    assert (tabular.format, tabular.encoding, tabular.delimiter) == ("xlsx", None, None)
    assert tabular.sheet_name == "顧客"
    assert tabular.headers == [
        "電話番号",
        "登録日",
        "時刻",
        "金額",
        "率",
        "有効",
        "件数",
        "電話番号 (2)",
    ]
    rows = read_all(tabular, batch_rows=1)
    assert [tuple(row.values()) for row in rows] == [
        (
            3,
            "09012345678",
            "2024-03-01",
            "2024-03-01 14:05:09",
            "1980",
            "0.3",
            "TRUE",
            "42",
            None,
            None,
        ),
        (
            5,
            "0312345678",
            "2023-12-31",
            "09:30:00",
            "1234.5",
            "1e-05",
            "FALSE",
            "-7",
            None,
            "x | y",
        ),
        (6, None, None, "26:03:00", None, None, None, None, None, None),
    ]
    assert tabular.count_rows() == 3
    assert tabular.preview(1).rows() == [tuple(rows[0].values())]
    batch = next(tabular.batches())
    assert batch.schema["__row"] == pl.Int64
    assert all(batch.schema[name] == pl.String for name in [*tabular.headers, "__extra"])


def test_xlsx_short_rows_and_large_numbers(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx", [["a", "b", "c"], [4901234567894, 1e20], [2.5]])
    rows = read_all(open_file(path))
    assert [tuple(row.values()) for row in rows] == [
        (2, "4901234567894", "100000000000000000000", None, None),
        (3, "2.5", None, None, None),
    ]


def test_xlsx_header_only_and_empty_sheet(tmp_path):
    assert refused(make_workbook(tmp_path / "h.xlsx", [["a", "b"], [None, " "]])).code == (
        "empty_file"
    )
    assert refused(make_workbook(tmp_path / "e.xlsx", [])).code == "empty_file"


def test_xlsx_too_many_rows(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx", [["a"], [1], [2], [3]])
    with pytest.raises(ImportFileError) as caught:
        open_file(path, max_rows=2).count_rows()
    assert caught.value.code == "too_many_rows"


def add_members(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_bomb_by_ratio(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (50 * 2**20))
    error = refused(path, xlsx_max_ratio=100)
    assert error.code == "zip_bomb"
    assert "sheet1.xml" in error.message


def test_zip_bomb_by_total_size(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx", [["a"], [1]])
    padding = random.Random(1).randbytes(2**20)  # incompressible: only the total size is at issue
    add_members(path, {"xl/media/padding.bin": padding})
    error = refused(path, xlsx_max_uncompressed=512 * 1024)
    assert error.code == "zip_bomb"
    assert open_file(path).count_rows() == 1  # fine with the default limits


def test_macro_workbook_renamed_xlsx(tmp_path):
    path = make_workbook(tmp_path / "macro.xlsx", [["a"], [1]])
    add_members(path, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 fake vba"})
    assert refused(path).code == "macro_file"


def test_macro_enabled_content_type(tmp_path):
    path = tmp_path / "macro.xlsx"
    content_types = (
        b'<Types><Override PartName="/xl/workbook.xml" ContentType="application/'
        b'vnd.ms-excel.sheet.macroEnabled.main+xml"/></Types>'
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("xl/workbook.xml", "<workbook/>")
    assert refused(path).code == "macro_file"


@pytest.mark.parametrize(
    "members",
    [
        {"word/document.xml": b"<w:document/>"},
        {"xl/workbook.bin": b"\x00"},
        {"customers.csv": b"a,b\n1,2\n"},
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"},
    ],
)
def test_zip_that_is_not_a_workbook(tmp_path, members):
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    assert refused(path).code == "not_tabular"


def test_workbook_damaged_inside_a_sheet(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx", [["a"], [1], [2]])
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b'<row r="3"', b'<row r="3"><broken')
            target.writestr(info, data)
    tabular = open_file(damaged)
    with pytest.raises(ImportFileError) as caught:
        tabular.count_rows()
    assert caught.value.code == "not_tabular"


def test_damaged_workbook(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "not xml at all")
    error = refused(write(tmp_path, buffer.getvalue(), name="broken.xlsx"))
    assert error.code == "not_tabular"
    assert refused(write(tmp_path, b"PK\x03\x04 truncated", name="cut.xlsx")).code == (
        "not_tabular"
    )


def test_a_cell_is_blank_exactly_when_it_holds_only_unicode_whitespace():
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    cells = pl.Series("c", [*chars, *(f" {c}\u3000" for c in chars), "", None], dtype=pl.String)
    flags = pl.DataFrame({"c": cells}).select(
        fast=readers._not_blank(pl.col("c")), regex=pl.col("c").str.contains(r"\S")
    )
    assert flags["fast"].to_list() == flags["regex"].to_list()
    assert flags["fast"].sum() == 2 * (len(chars) - 25)  # 25 White_Space characters


def test_batches_at_the_edges_of_the_file_are_smaller(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "CHUNK_BYTES", 2_000)
    text = "id,name\n" + "".join(f"{i},name {i}\n" for i in range(1_000))
    tabular = open_file(write(tmp_path, text))

    sizes, ids = [], []
    for batch in tabular.batches(100, edge_rows=10):
        sizes.append(batch.height)
        ids += batch["id"].to_list()

    assert ids == [str(i) for i in range(1_000)]
    assert sizes[0] == 10 and max(sizes) == 100
    # Once the last bytes are read, what is left comes in small batches.
    assert sizes[-3:] == [10, 10, 10] and sum(sizes) == 1_000
    assert list(tabular.batches(100)) and all(b.height == 100 for b in tabular.batches(100))
