"""Reading lead files (CSV with a header row, or JSONL) row by row, with line numbers.

A row that cannot be read (bad JSON, not UTF-8, too many columns) comes back with an error
instead of stopping the file.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from pipeline.intake.webhooks import parse_json_int

CSV = "csv"
JSONL = "jsonl"
FORMATS = (CSV, JSONL)
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}

# CSV fields may be long (messages); the csv module's default limit is 128 KiB.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line where the record starts
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def detect_format(path: Path, text_start: str) -> str:
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return JSONL
    if path.suffix.lower() == ".csv":
        return CSV
    return JSONL if text_start.lstrip().startswith("{") else CSV


class RowFile:
    """A lead file's records, read from disk as they are iterated (a backfill of a million rows
    is never in memory at once); len() is their number. Close it, or use it in a `with`.

    Made by read_rows, which reads the file through once first: a file it must refuse whole is
    refused (ValueError) before any of its rows is stored. Every read is of the file that was
    opened then, even if another is put at its path meanwhile. One iteration at a time."""

    def __init__(self, binary: BinaryIO, file_format: str) -> None:
        self._binary, self.file_format = binary, file_format
        try:
            # Only "\n" ends a JSONL record (a message may hold U+2028 and other Unicode line
            # breaks), or "\r" in a file with no "\n" at all (classic Mac line ends): JSON never
            # holds a bare CR inside a string, so such a file would otherwise be one record.
            jsonl = file_format == JSONL
            self.record_end = "\r" if jsonl and _ends_lines_with_cr_only(binary) else "\n"
            if not jsonl:
                with self._text("") as handle:
                    _check_quotes_close(handle)
            self.count = sum(1 for _ in self)
        except BaseException:
            binary.close()
            raise

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Row]:
        newline = self.record_end if self.file_format == JSONL else ""
        with self._text(newline) as handle:
            if self.file_format == JSONL:
                yield from _jsonl_rows(handle, self.record_end)
            else:
                yield from _csv_rows(handle)

    @contextmanager
    def _text(self, newline: str) -> Iterator[TextIO]:
        """The file from its start as text, without closing the file after."""
        self._binary.seek(0)
        # surrogateescape: a badly encoded row becomes that row's error, not the file's.
        handle = io.TextIOWrapper(
            self._binary, encoding="utf-8-sig", errors="surrogateescape", newline=newline
        )
        try:
            yield handle
        finally:
            handle.detach()

    def close(self) -> None:
        self._binary.close()

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _ends_lines_with_cr_only(binary: BinaryIO) -> bool:
    binary.seek(0)
    has_cr = False
    while chunk := binary.read(1 << 16):
        if b"\n" in chunk:
            return False
        has_cr = has_cr or b"\r" in chunk
    return has_cr


def read_rows(path: Path, *, file_format: str | None = None) -> RowFile:
    """The file's records, in order. Raises OSError/ValueError only for the whole file."""
    # A pipe (/dev/stdin, <(…)) can be read only once: its bytes are kept.
    binary = path.open("rb") if path.is_file() else io.BytesIO(path.read_bytes())
    try:
        start = binary.read(1000)
        if start.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ValueError(
                "the file is UTF-16 (Excel's 'Unicode Text'): save it as 'CSV UTF-8' and import "
                "again"
            )
        text_start = start.decode("utf-8-sig", errors="ignore")
        return RowFile(binary, file_format or detect_format(path, text_start))
    except BaseException:
        binary.close()
        raise


def _jsonl_rows(lines: Iterator[str], end: str) -> Iterator[Row]:
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix(end).removesuffix("\r")
        if not line.strip():
            continue
        if _has_bad_bytes(line):
            yield Row(number, error="not UTF-8 text")
            continue
        try:
            value = json.loads(line, object_pairs_hook=_unique_keys, parse_int=parse_json_int)
        except _DuplicateKey as error:
            yield Row(number, error=f"the key {str(error)[:80]!r} appears twice: keep one")
            continue
        except (ValueError, RecursionError) as error:
            yield Row(number, error=f"not valid JSON: {str(error)[:200]}")
            continue
        if not isinstance(value, dict):
            yield Row(number, error=f"expected a JSON object, got {type(value).__name__}")
            continue
        yield Row(number, data=value)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each there once: json.loads would keep the last of two."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def _csv_rows(handle: TextIO) -> Iterator[Row]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [column.strip() for column in header]
    _check_header(header)
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Row(start, error=f"unreadable CSV: {error}")
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            yield Row(line, error=f"{len(values)} values but the header has {len(header)} columns")
            continue
        if any(_has_bad_bytes(value) for value in values):
            yield Row(line, error="not UTF-8 text")
            continue
        unnamed = [
            number
            for number, (key, value) in enumerate(zip(header, values, strict=False), start=1)
            if not key and value.strip()
        ]
        if unnamed:
            yield Row(
                line, error=f"a value in column {unnamed[0]}, which the header leaves unnamed"
            )
            continue
        yield Row(
            line, data={key: value for key, value in zip(header, values, strict=False) if key}
        )


def _check_quotes_close(handle: TextIO) -> None:
    """A quote opened and never closed makes the rest of the file one value: the rows after it
    would be neither imported nor reported. Refuse the file, naming the line."""
    strict = csv.reader(handle, strict=True)
    start = 1
    while True:
        try:
            next(strict)
        except StopIteration:
            return
        except csv.Error as error:
            if "unexpected end of data" in str(error):
                raise ValueError(
                    f"line {start}: a quoted value opens here and never closes, so the rest of "
                    "the file would be read as that one value. Close it (a quote inside a "
                    'quoted value is written twice: "") and import again'
                ) from None
        start = strict.line_num + 1


def _check_header(header: list[str]) -> None:
    if not any(header):
        raise ValueError("the first line must be a header row naming the columns")
    if any(_has_bad_bytes(column) for column in header):
        raise ValueError("the header row is not UTF-8 text: save the file as 'CSV UTF-8'")
    if any("@" in column for column in header):
        raise ValueError(
            "the first line holds an email address, so it is a lead, not a header row naming "
            "the columns: add a header row (e.g. Name,Email,Company,Message)"
        )
    named = [column for column in header if column]
    twice = sorted({column for column in named if named.count(column) > 1})
    if twice:
        raise ValueError(
            f"the header names the column {twice[0]!r} twice, so one of its values would be "
            "lost: rename one and import again"
        )


def _has_bad_bytes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Progress:
    """A one-line progress bar, drawn only when `stream` is a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.last_drawn = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last_drawn < 0.1 and done < self.total:
            return
        self.last_drawn = now
        filled = int(self.WIDTH * done / self.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} {100 * done // self.total}%")
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.WIDTH + 30) + "\r")
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.update(self.total, force=True)
            self.stream.write("\n")
            self.stream.flush()
