"""The import reads its file one batch ahead in a thread of its own (pipeline._read_ahead)."""

import threading

import pytest

from customers.importing.pipeline import _read_ahead
from customers.importing.readers import ImportFileError
from customers.models import ImportJob


def test_items_come_in_order_from_another_thread():
    threads = set()

    def items():
        for number in range(50):
            threads.add(threading.current_thread().name)
            yield number

    with _read_ahead(items()) as ahead:
        assert list(ahead) == list(range(50))
    assert threads == {"import-read"}


def test_an_error_of_the_file_comes_after_the_items_before_it():
    def items():
        yield 1
        yield 2
        raise ImportFileError("malformed_csv", "row 3 could not be read")

    received = []
    with pytest.raises(ImportFileError, match="row 3"), _read_ahead(items()) as ahead:
        for item in ahead:
            received.append(item)
    assert received == [1, 2]


def test_leaving_early_stops_the_reader_and_closes_the_source():
    produced = []
    closed = threading.Event()

    def items():
        try:
            for number in range(1_000_000):
                produced.append(number)
                yield number
        finally:
            closed.set()

    with _read_ahead(items(), depth=2) as ahead:
        assert next(ahead) == 0
    assert closed.is_set()  # closed by the time the block is left, in the reader's thread
    assert len(produced) <= 5  # one taken, two waiting, one being handed over
    assert not any(t.name == "import-read" for t in threading.enumerate())


def test_an_import_that_fails_stops_its_reader(db, monkeypatch):
    from customers.importing import direct, pipeline
    from tests.customers.helpers import run_import

    def fail(*, results, **kwargs):
        next(results)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(direct, "applies", lambda **kwargs: True)
    monkeypatch.setattr(direct, "load_first", fail)
    monkeypatch.setattr(pipeline, "DIRECT_EDGE_BATCH_ROWS", 1)
    monkeypatch.setattr(pipeline, "DIRECT_BATCH_ROWS", 1)
    with pytest.raises(RuntimeError, match="went away"):
        run_import("customers", "顧客ID,氏名\n" + "".join(f"C{i},x\n" for i in range(50)))

    assert ImportJob.objects.get().state == "failed"
    assert not any(t.name == "import-read" for t in threading.enumerate())
