"""Documents from the user's files: globs -> files -> shard plans -> documents, one-line errors.

    from t2.models.corpus_files import expand, plan_file, read_documents
    plans = [p for f in expand("web", source) for p in plan_file("web", f, source)]  # JSON-able
    for text, raw in read_documents(plans[0]): ...                     # str and its UTF-8

Formats (by suffix): ``.txt`` (a document per paragraph, line or file: ``txt_documents``),
``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst`` (one JSON object per line, the text in
``text_field``), ``.parquet`` and ``.arrow`` (Arrow IPC file or stream, as written by
``datasets``' ``save_to_disk``; the text in column ``text_field``). A shard plan is a slice of one
file of about ``SHARD_BYTES`` of input: a byte range cut at line (or paragraph) starts for plain
text, whole row groups or record batches for parquet and arrow, a whole file when compressed
(gzip and zstd streams cannot be entered in the middle). Bad input is a ``DataError`` (a
``ConfigError``) of one line naming the file and, where there is one, the line or row.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

from t2.infra.config import ConfigError

SHARD_BYTES = 64 << 20  # input per shard; small enough to balance, large enough to amortise
ALIGN_SCAN = 1 << 20  # how far a split point may move to reach a line or paragraph start
BATCH_ROWS = 4096  # parquet rows converted to Python at once
SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl", ".txt", ".parquet", ".arrow")


class DataError(ConfigError):
    """Bad pretraining input; ``str()`` is one line naming the file (and line, row or field)."""


def file_format(path: str | Path) -> str:
    name = str(path).lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:]
    raise DataError(f"{path}: unsupported file type (expected {', '.join(SUFFIXES)})")


def expand(name: str, source, field: str = "data.files") -> list[Path]:
    """The files of a source's globs, sorted per glob, each once; DataError when one is empty."""
    found: dict[Path, None] = {}
    for pattern in source.paths:
        if not glob.has_magic(pattern):
            path = Path(pattern)
            if path.is_dir():
                raise DataError(f"{field}.{name}: {pattern}: is a directory (use a glob such "
                                f"as {pattern.rstrip('/')}/*.parquet)")
            if not path.is_file():
                raise DataError(f"{field}.{name}: {pattern}: no such file")
            found[path.resolve()] = None
            continue
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not matches:
            raise DataError(f"{field}.{name}: {pattern!r} matches no file")
        found.update(dict.fromkeys(Path(m).resolve() for m in matches))
    for path in found:
        file_format(path)
    return list(found)


def identity(path: Path) -> list:
    """What names a file's content cheaply: path, size, modification time (ns)."""
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


# ---- planning -------------------------------------------------------------------------------
def _next_start(f, offset: int, paragraph: bool) -> int | None:
    """The first line (paragraph) start at or after ``offset``; None if none is near."""
    f.seek(max(offset - 1, 0))
    scanned = len(f.readline()) if offset > 0 else 0
    while paragraph and scanned < ALIGN_SCAN:
        line = f.readline()
        if not line:
            return None
        scanned += len(line)
        if not line.strip():
            break
    return f.tell() if scanned < ALIGN_SCAN else None


def _text_ranges(path: Path, size: int, paragraph: bool, shard_bytes: int) -> list[list[int]]:
    cuts = [0]
    with open(path, "rb") as f:
        for target in range(shard_bytes, size, shard_bytes):
            start = _next_start(f, max(target, cuts[-1] + 1), paragraph)
            if start is not None and cuts[-1] < start < size:
                cuts.append(start)
    return [[a, b] for a, b in zip(cuts, [*cuts[1:], size])]


def _check_column(path: Path, schema, field: str) -> None:
    import pyarrow as pa

    if field not in schema.names:
        raise DataError(f"{path}: no column {field!r} (columns: {', '.join(schema.names)})")
    kind = schema.field(field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)):
        raise DataError(f"{path}: column {field!r} holds {kind}, expected strings")


def _groups(sizes: list[int], shard_bytes: int) -> list[list[int]]:
    """Consecutive index ranges whose sizes add up to about ``shard_bytes`` each."""
    out, start, acc = [], 0, 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= shard_bytes:
            out.append([start, i + 1])
            start, acc = i + 1, 0
    if start < len(sizes) or not out:
        out.append([start, len(sizes)])
    return out


def _parquet_plans(path: Path, field: str, shard_bytes: int) -> list[dict]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        schema = pq.read_schema(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types
        raise DataError(f"{path}: not a readable parquet file: {_first(err)}") from None
    _check_column(path, schema, field)
    col = schema.names.index(field)
    sizes = [meta.row_group(i).column(col).total_uncompressed_size
             for i in range(meta.num_row_groups)]
    return [{"format": "parquet", "row_groups": g, "est_bytes": sum(sizes[g[0]:g[1]])}
            for g in _groups(sizes, shard_bytes)]


def _arrow_reader(path: Path, source):
    import pyarrow as pa

    with open(path, "rb") as f:
        is_file = f.read(6) == b"ARROW1"
    return pa.ipc.open_file(source) if is_file else pa.ipc.open_stream(source)


def _arrow_batches(path: Path, start: int = 0, stop: int | None = None):
    import pyarrow as pa

    with pa.memory_map(str(path)) as src:
        reader = _arrow_reader(path, src)
        if hasattr(reader, "num_record_batches"):  # the IPC file format: random access
            stop = reader.num_record_batches if stop is None else stop
            for i in range(start, stop):
                yield i, reader.schema, reader.get_batch(i)
            return
        for i, batch in enumerate(reader):
            if stop is not None and i >= stop:
                return
            if i >= start:
                yield i, reader.schema, batch


def _arrow_plans(path: Path, field: str, shard_bytes: int) -> list[dict]:
    sizes = []
    try:
        for _, schema, batch in _arrow_batches(path):
            _check_column(path, schema, field)
            sizes.append(batch.column(field).nbytes)
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to read is bad input
        raise DataError(f"{path}: not a readable Arrow IPC file: {_first(err)}") from None
    return [{"format": "arrow", "batches": g, "est_bytes": sum(sizes[g[0]:g[1]])}
            for g in _groups(sizes, shard_bytes)]


def plan_file(name: str, path: Path, source, shard_bytes: int | None = None) -> list[dict]:
    """The shard plans of one file of source ``name`` (``source``: text_field, txt_documents)."""
    fmt, shard_bytes = file_format(path), shard_bytes or SHARD_BYTES
    base = {"source": name, "path": str(path), "text_field": source.text_field}
    if fmt == "parquet":
        plans = _parquet_plans(path, source.text_field, shard_bytes)
    elif fmt == "arrow":
        plans = _arrow_plans(path, source.text_field, shard_bytes)
    else:
        size = path.stat().st_size
        unit = getattr(source, "txt_documents", "line") if fmt == "txt" else "line"
        whole = fmt.endswith((".gz", ".zst")) or unit == "file"
        ranges = [[0, size]] if whole else _text_ranges(path, size, unit == "paragraph",
                                                        shard_bytes)
        plans = [{"format": fmt, "unit": unit, "range": r, "est_bytes": r[1] - r[0]}
                 for r in ranges]
    return [{**base, **p} for p in plans]


# ---- reading --------------------------------------------------------------------------------
def _first(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


class _Consumed:
    """Bytes of a plain file read so far (the counterpart of ``_Counting``)."""

    pos = 0


class _Counting(io.RawIOBase):
    """A raw file that counts the bytes read from it (how far a decompressor got)."""

    def __init__(self, f):
        self.f, self.pos = f, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self.f.readinto(b)
        self.pos += n
        return n


def _decompressed(fmt: str, raw):
    if fmt.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    import zstandard

    return io.BufferedReader(zstandard.ZstdDecompressor(max_window_size=2 ** 31)
                             .stream_reader(raw, read_across_frames=True))


def _line_number(path: str, offset: int) -> int:
    """1-based number of the line that starts at byte ``offset`` of a plain file."""
    count, left = 1, offset
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


def _lines(plan: dict, counter: list | None = None) -> Iterator[tuple[object, bytes]]:
    """(locator, line) of the plan's lines; ``locator`` gives the line number on demand."""
    path, fmt = plan["path"], plan["format"]
    with open(path, "rb") as f:
        if fmt.endswith((".gz", ".zst")):
            raw = _Counting(f)
            if counter is not None:
                counter.append(raw)
            stream, num = _decompressed(fmt, raw), 0
            codec = "gzip" if fmt.endswith(".gz") else "zstd"
            try:
                for num, line in enumerate(stream, 1):
                    yield num, line
            except DataError:
                raise
            except Exception as err:  # noqa: BLE001 - OSError, EOFError, zlib.error, ZstdError
                raise DataError(f"{path}: corrupt {codec} data after line {num}: "
                                f"{_first(err)}") from None
            return
        start, stop = plan["range"]
        f.seek(start)
        read = _Consumed()
        if counter is not None:
            counter.append(read)
        while start + read.pos < stop:
            line = f.readline()
            if not line:
                return
            yield ("offset", start + read.pos), line
            read.pos += len(line)


def _where(plan: dict, loc) -> str:
    num = _line_number(plan["path"], loc[1]) if isinstance(loc, tuple) else loc
    return f"{plan['path']}:{num}"


def _jsonl(plan: dict, counter=None) -> Iterator[tuple[str, bytes]]:
    field = plan["text_field"]
    for loc, line in _lines(plan, counter):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.rstrip(b"\r\n"))
        except UnicodeDecodeError as err:
            raise DataError(f"{_where(plan, loc)}: not valid UTF-8 ({err.reason} at byte "
                            f"{err.start} of the line)") from None
        except ValueError as err:
            raise DataError(f"{_where(plan, loc)}: invalid JSON ({err.msg.removesuffix(' at')} "
                            f"at column {err.colno})") from None
        if not isinstance(obj, dict) or field not in obj:
            has = f" (fields: {', '.join(list(obj)[:8])})" if isinstance(obj, dict) else ""
            raise DataError(f"{_where(plan, loc)}: no field {field!r}{has}")
        text = obj[field]
        if not isinstance(text, str):
            raise DataError(f"{_where(plan, loc)}: field {field!r} holds "
                            f"{type(text).__name__}, expected a string")
        try:
            yield text, text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise DataError(f"{_where(plan, loc)}: field {field!r} is not valid Unicode "
                            f"({err.reason})") from None


def _decode(plan: dict, loc, raw: bytes) -> tuple[str, bytes]:
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError as err:
        raise DataError(f"{_where(plan, loc)}: not valid UTF-8 ({err.reason} at byte "
                        f"{err.start} of the document)") from None


def _txt(plan: dict) -> Iterator[tuple[str, bytes]]:
    if plan["unit"] == "file":
        with open(plan["path"], "rb") as f:
            raw = f.read()
        if raw.strip():
            yield _decode(plan, 1, raw)
        return
    para, first = [], None
    for loc, line in _lines(plan):
        if plan["unit"] == "line":
            if line.strip():
                yield _decode(plan, loc, line.rstrip(b"\r\n"))
            continue
        if line.strip():
            para.append(line)
            first = first or loc
        elif para:
            yield _decode(plan, first, b"".join(para).rstrip(b"\r\n"))
            para, first = [], None
    if para:
        yield _decode(plan, first, b"".join(para).rstrip(b"\r\n"))


def _column_texts(plan: dict, batch, row0: int, what: str) -> Iterator[tuple[str, bytes]]:
    column = batch.column(plan["text_field"])
    if column.null_count:
        row = row0 + column.is_null().to_pylist().index(True)
        raise DataError(f"{plan['path']}: {what}row {row}: field {plan['text_field']!r} is null")
    try:
        texts = column.to_pylist()
    except UnicodeDecodeError as err:
        raise DataError(f"{plan['path']}: {what}rows {row0}-{row0 + len(column) - 1}: not valid "
                        f"UTF-8 ({err.reason})") from None
    for text in texts:
        yield text, text.encode("utf-8")


def _parquet(plan: dict) -> Iterator[tuple[str, bytes]]:
    import pyarrow.parquet as pq

    first, stop = plan["row_groups"]
    pf = pq.ParquetFile(plan["path"])
    for group in range(first, stop):
        row = 0
        try:
            batches = pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group],
                                      columns=[plan["text_field"]])
            for batch in batches:
                yield from _column_texts(plan, batch, row, f"row group {group}, ")
                row += batch.num_rows
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure to decode is bad input
            raise DataError(f"{plan['path']}: row group {group}: corrupt parquet data: "
                            f"{_first(err)}") from None


def _arrow(plan: dict) -> Iterator[tuple[str, bytes]]:
    first, stop = plan["batches"]
    try:
        for i, _, batch in _arrow_batches(Path(plan["path"]), first, stop):
            yield from _column_texts(plan, batch, 0, f"record batch {i}, ")
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to decode is bad input
        raise DataError(f"{plan['path']}: corrupt Arrow data: {_first(err)}") from None


def read_documents(plan: dict, counter: list | None = None) -> Iterator[tuple[str, bytes]]:
    """(text, UTF-8 bytes) of every non-empty document of a shard plan, in file order.

    ``counter`` (jsonl formats) receives an object whose ``pos`` says how many input bytes
    (compressed ones for .gz/.zst) were consumed so far (for size estimates)."""
    fmt = plan["format"]
    if fmt == "parquet":
        reader = _parquet(plan)
    elif fmt == "arrow":
        reader = _arrow(plan)
    elif fmt == "txt":
        reader = _txt(plan)
    else:
        reader = _jsonl(plan, counter)
    for text, raw in reader:
        if raw.strip():
            yield text, raw

