"""A run on the user's own files and tokenizer: the shared sharded corpus, the tokenizer's
vocabulary in the model and its parameter count, the tokenizer in the exported checkpoint.

Run: .venv/bin/python -m pytest tests/models/test_train_user_corpus.py -q
"""

import pytest
from corpus_helpers import documents, write
from t2.infra.storage import read_json
from t2.models.config import RunConfig
from t2.models.ladder import params_for_depth
from t2.models.train import train
from test_user_tokenizer import wordpiece

pytestmark = pytest.mark.slow


def test_a_run_trains_on_user_files_with_a_user_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    docs = documents(3000, seed=9)
    write(tmp_path / "in", "parquet", docs[:1500], name="a")
    write(tmp_path / "in", "jsonl.zst", docs[1500:], name="b")
    tok = wordpiece(tmp_path / "tok" / "tokenizer.json")
    run = RunConfig.model_validate({
        "name": "user", "model": {"depth": 1, "seq_len": 32},
        "data": {"tokenizer": str(tmp_path / "tok" / "tokenizer.json"),
                 "files": {"web": [str(tmp_path / "in" / "*")]}, "val_fraction": 0.05},
        "train": {"tokens": 8192, "batch_tokens": 512, "lr": 3e-3, "checkpoint_every": 8},
        "tracking": {"enabled": False}})
    dirs = train(run, tmp_path / "run", cache_dir=tmp_path / "cache")
    info = read_json(dirs[-1] / "train.json")
    assert info["N"]["total"] == params_for_depth(1, tok.get_vocab_size())
    assert info["repetition"]["unique_tokens_by_source"].keys() == {"web"}
    assert 0 < info["repetition"]["epochs"] == pytest.approx(
        8192 / info["repetition"]["unique_tokens"])
    hf = AutoTokenizer.from_pretrained(info["hf_dir"])
    assert hf.eos_token == "</s>" and len(hf) == tok.get_vocab_size()
    assert len(list((tmp_path / "cache").glob("corpus-*"))) == 1  # one shared corpus
