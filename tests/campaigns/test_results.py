"""Campaign results: funnel, rates, repurchase lift against the holdout with its 95% CI, the
snapshot, the pages and the API — every number checked against a hand computation."""

from __future__ import annotations

import io
from datetime import date

import openpyxl

from config.charts import Bar, Series, bar_chart, format_percent, line_chart
from config.exports import table_response, xlsx_bytes

# --- shared building blocks: charts and exports ---------------------------------------------------


def test_bar_chart_escapes_labels_and_marks_each_bar():
    svg = bar_chart(
        title="Funnel <b>", bars=[Bar("Members", 100), Bar("Reached <x>", 42, key="reached")]
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title" in svg and "Funnel &lt;b&gt;" in svg
    assert "Reached &lt;x&gt;" in svg and "<x>" not in svg
    assert 'data-key="reached"' in svg and 'data-value="42"' in svg


def test_line_chart_draws_every_series_with_a_legend_and_a_zero_rule():
    svg = line_chart(
        title="Repurchase",
        chart_id="trend",
        series=[
            Series("Treatment", [(date(2026, 1, 1), 0.0), (date(2026, 1, 5), 0.3)], key="t"),
            Series("Lift", [(date(2026, 1, 1), -0.02), (date(2026, 1, 5), 0.1)], key="lift"),
        ],
        y_format=format_percent,
    )
    assert 'id="trend-t"' in svg and 'id="trend-lift"' in svg
    assert svg.count('class="legend-item"') == 2
    assert 'class="zero"' in svg  # the range crosses zero
    assert "30%" in svg


def test_xlsx_export_neutralises_formula_like_text_but_keeps_numbers():
    data = xlsx_bytes(["name", "amount"], [["=cmd|' /C calc'!A0", -5], ["\tx", "@SUM(A1)"]])
    rows = [
        [c.value for c in r] for r in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows()
    ]
    assert rows == [["name", "amount"], ["'=cmd|' /C calc'!A0", -5], ["'\tx", "'@SUM(A1)"]]


def test_table_response_streams_csv_and_builds_xlsx():
    csv_response = table_response(filename="results 1", header=["a"], rows=[["+1+2"]])
    assert csv_response["Content-Disposition"] == 'attachment; filename="results-1.csv"'
    assert b"".join(csv_response.streaming_content) == "\ufeffa\r\n'+1+2\r\n".encode()
    xlsx_response = table_response(filename="r", header=["a"], rows=[["-x"]], fmt="xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_response.content))
    assert workbook.active["A2"].value == "'-x"
