"""Bring your own corpus: every file format and a saved ``datasets`` dataset give exactly their
documents; shards cut files only at document starts; bad input is one line naming the file.

Run: .venv/bin/python -m pytest tests/models/test_corpus_files.py -q
"""

import gzip

import pytest
from corpus_helpers import FORMATS, corpus_documents, data_section, documents, write
from t2.infra.config import ConfigError
from t2.models.config import DataSpec, FileSource
from t2.models.corpus_files import plan_file, read_documents
from t2.models.data import prepare_corpus

DOCS = documents(240)


def build(cache, **data):
    return prepare_corpus(DataSpec(val_fraction=0.2, **data), cache, use_ray=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_yields_exactly_its_documents(tmp_path, cache_dir, fmt):
    path = write(tmp_path / "in", fmt, DOCS)
    corpus = build(cache_dir, **data_section(fmt, path))
    train, val = corpus_documents(corpus, "train"), corpus_documents(corpus, "val")
    assert sorted(train + val) == sorted(DOCS)  # nothing lost, nothing twice
    assert val and not set(train) & set(val)  # a held-out split, disjoint from training
    assert 0.1 < len(val) / len(DOCS) < 0.3
    assert corpus.meta["sources"]["src"]["num_documents"] == len(train)


@pytest.mark.parametrize("fmt, unit", [("jsonl", None), ("txt", "paragraph"),
                                       ("txt", "line"), ("parquet", None), ("arrow", None),
                                       ("arrow-stream", None)])
def test_shards_cut_files_only_at_document_starts(tmp_path, fmt, unit):
    path = write(tmp_path, fmt, DOCS)
    source = FileSource(paths=[str(path)], txt_documents=unit or "paragraph")
    plans = plan_file("src", path, source, shard_bytes=1500)
    assert len(plans) > 3
    got = [text for p in plans for text, _ in read_documents(p)]
    want = [ln for d in DOCS for ln in d.split("\n")] if unit == "line" else DOCS
    assert got == want


def test_a_txt_file_can_be_one_document(tmp_path, cache_dir):
    path = write(tmp_path, "txt", DOCS[:5])
    corpus = prepare_corpus(DataSpec(files={"src": {"paths": [str(path)],
                                                    "txt_documents": "file"}},
                                     val_fraction=0.5, seed=2), cache_dir, use_ray=False)
    docs = corpus_documents(corpus, "train") + corpus_documents(corpus, "val")
    assert docs == ["\n\n".join(DOCS[:5]) + "\n"]


def test_globs_mix_formats_and_the_same_inputs_hash_to_the_same_corpus(tmp_path, cache_dir):
    for i, fmt in enumerate(["jsonl", "parquet", "jsonl.gz"]):
        write(tmp_path / "in", fmt, DOCS[i * 80:(i + 1) * 80], name=f"part-{i}")
    spec = {"files": {"src": [str(tmp_path / "in" / "*.jsonl*"),
                              str(tmp_path / "in" / "*.parquet")]}}
    corpus = build(cache_dir, **spec)
    assert corpus.meta["sources"]["src"]["num_shards"] == 3
    again = build(cache_dir, **spec)
    assert again.path == corpus.path and again.meta["build"] == corpus.meta["build"]
    (tmp_path / "in" / "part-1.parquet").touch()  # a changed input makes another corpus
    assert build(cache_dir, **spec).path != corpus.path


def _fails(cache, fragment: str, **data) -> str:
    with pytest.raises(ConfigError) as err:
        build(cache, **data)
    msg = str(err.value)
    assert "\n" not in msg and fragment in msg, msg
    assert not [p for p in cache.glob("corpus-*")], "a corpus was published"
    return msg


def _jsonl(tmp_path, lines: list[bytes], name="bad.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_missing_file_and_an_empty_glob_name_the_source(tmp_path, cache_dir):
    _fails(cache_dir, f"data.files.src: {tmp_path}/nope.jsonl: no such file",
           files={"src": [str(tmp_path / "nope.jsonl")]})
    _fails(cache_dir, f"data.files.src: '{tmp_path}/*.parquet' matches no file",
           files={"src": [str(tmp_path / "*.parquet")]})
    (tmp_path / "notes.csv").write_text("a,b\n")
    _fails(cache_dir, "notes.csv: unsupported file type", files={"src": [str(tmp_path / "*")]})


def test_a_missing_text_field_names_the_file_and_line(tmp_path, cache_dir):
    path = _jsonl(tmp_path, [b'{"text": "ok"}', b'{"text": "ok too"}', b'{"body": "x"}'])
    _fails(cache_dir, f"{path}:3: no field 'text' (fields: body)", files={"src": [str(path)]})
    path = _jsonl(tmp_path, [b'{"text": "ok"}', b'{"text": 7}'], name="int.jsonl")
    _fails(cache_dir, f"{path}:2: field 'text' holds int, expected a string",
           files={"src": [str(path)]})


def test_a_missing_column_names_the_file_and_its_columns(tmp_path, cache_dir):
    path = write(tmp_path, "parquet", DOCS[:10])
    _fails(cache_dir, f"{path}: no column 'body' (columns: text, id)",
           files={"src": {"paths": [str(path)], "text_field": "body"}})
    path = write(tmp_path, "hf-dataset", DOCS[:10])
    _fails(cache_dir, "no column 'content'",
           hf_dataset={"src": {"path": str(path), "text_field": "content"}})


def test_a_corrupt_jsonl_line_is_named_even_deep_in_a_later_shard(tmp_path, cache_dir,
                                                                 monkeypatch):
    from t2.models import corpus_files

    monkeypatch.setattr(corpus_files, "SHARD_BYTES", 2000)
    lines = [f'{{"text": "line {i} of a long enough file"}}'.encode() for i in range(400)]
    lines[300] = b'{"text": "cut here'
    path = _jsonl(tmp_path, lines)
    _fails(cache_dir, f"{path}:301: invalid JSON (Unterminated string", files={"src": [str(path)]})


def test_undecodable_bytes_name_the_file_and_line(tmp_path, cache_dir):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"fine\n\nstill fine\n\ncaf" + b"\xe9 au lait\n")
    _fails(cache_dir, f"{path}:5: not valid UTF-8", files={"src": [str(path)]})
    path = _jsonl(tmp_path, [b'{"text": "ok"}', b'{"text": "caf\xe9"}'], name="latin1.jsonl")
    _fails(cache_dir, f"{path}:2: not valid UTF-8", files={"src": [str(path)]})


def test_corrupt_parquet_and_compressed_files_name_the_file(tmp_path, cache_dir):
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    _fails(cache_dir, f"{path}: not a readable parquet file", files={"src": [str(path)]})
    whole = gzip.compress(b"".join(f'{{"text": "doc {i}"}}\n'.encode() for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    _fails(cache_dir, f"{path}: corrupt gzip data after line", files={"src": [str(path)]})
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x11" * 40)
    _fails(cache_dir, f"{path}: corrupt zstd data after line 0", files={"src": [str(path)]})


def test_a_null_text_names_its_row(tmp_path, cache_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["a", "b", None, "d"]}), path)
    _fails(cache_dir, f"{path}: row group 0, row 2: field 'text' is null",
           files={"src": [str(path)]})


def test_a_tokenizer_that_does_not_load_is_named(tmp_path, cache_dir):
    path = write(tmp_path, "jsonl", DOCS[:20])
    bad = tmp_path / "tok" / "tokenizer.json"
    bad.parent.mkdir()
    bad.write_text('{"version": "1.0", "model": {"type": "Nonsense"}}')
    _fails(cache_dir, f"data.tokenizer: {bad}: cannot load tokenizer.json:",
           tokenizer=str(bad), files={"src": [str(path)]})
    _fails(cache_dir, f"data.tokenizer: {tmp_path}/none/: no such file or directory",
           tokenizer=f"{tmp_path}/none/", files={"src": [str(path)]})
    _fails(cache_dir, "no tokenizer.json in this directory",
           tokenizer=str(tmp_path), files={"src": [str(path)]})


def test_check_data_finds_bad_sources_before_anything_is_read(tmp_path, cache_dir):
    from t2.models.data import check_data

    path = write(tmp_path, "jsonl", DOCS[:10])
    check_data(DataSpec(files={"src": [str(path)]}), cache_dir)
    with pytest.raises(ConfigError, match="matches no file"):
        check_data(DataSpec(files={"src": [str(tmp_path / "*.parquet")]}), cache_dir)
    with pytest.raises(ConfigError, match="data.mix: unknown text source 'nope'"):
        check_data(DataSpec(files={"src": [str(path)]}, mix={"src": 1, "nope": 1}), cache_dir)
    with pytest.raises(ConfigError, match="data.tokenizer: .*no such file"):
        check_data(DataSpec(files={"src": [str(path)]}, tokenizer=f"{tmp_path}/t.json"))
    assert not list(cache_dir.glob("corpus-*"))
