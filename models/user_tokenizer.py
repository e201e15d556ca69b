"""Any ``data.tokenizer`` as one ``TokenizerInfo``: byte, a BPE trained here, or the user's own.

    from t2.models.user_tokenizer import resolve_tokenizer
    info = resolve_tokenizer(spec, cache_dir, bpe_texts=lambda: docs)   # bpe trains on docs
    info.dir, info.eos_id, info.vocab_size, info.identity

A user tokenizer is a local ``tokenizer.json`` file, a directory holding one (a transformers
tokenizer directory such as GPT-NeoX's, whose ``tokenizer_config.json`` is kept), or, with
``data.allow_hub``, ``hf:ORG/NAME[@REVISION]``, whose tokenizer files are downloaded once into
``<cache>/hub``. Only fast (``tokenizers``) tokenizers are supported. Documents are joined by the
end-of-document token: ``data.eos_token``, else the tokenizer's own ``eos_token``, else the first
of ``<|endoftext|>``, ``</s>``, ``<|end_of_text|>``, ``<|eos|>``, ``<eos>`` in its vocabulary.
The tokenizer is normalised once into ``<cache>/tokenizer-user-<hash>`` (eos set, pad = eos if
it has none) so that the corpus, the checkpoints and the evaluation load it offline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from t2.infra.config import ConfigError
from t2.models._cache import build_once, default_cache_dir
from t2.models.tokenizer import BYTE_VOCAB_SIZE, EOS, SPECIALS, load_tokenizer, tokenizer_path

EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<|eos|>", "<eos>")
HUB_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TokenizerInfo:
    kind: str  # "byte", "bpe" or "user"
    dir: Path  # a tokenizer directory that t2.models.tokenizer.load_tokenizer opens offline
    eos_id: int
    vocab_size: int  # one past the largest id, added tokens included
    identity: str  # what fixes the ids (part of a corpus's content hash)

    def json(self) -> str:
        """The ``tokenizer.json`` text (what shard workers build their tokenizer from)."""
        return (self.dir / "tokenizer.json").read_text(encoding="utf-8")


def _fail(spec, what: str) -> ConfigError:
    return ConfigError(f"data.tokenizer: {spec.tokenizer}: {what}")


def _hub_dir(spec, cache: Path) -> Path:
    """``hf:ORG/NAME[@REV]`` -> a local directory of its tokenizer files (download once)."""
    repo, _, revision = spec.tokenizer.removeprefix("hf:").partition("@")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, revision=revision or None, allow_patterns=HUB_FILES,
                                      cache_dir=str(cache / "hub")))
    except Exception as err:  # noqa: BLE001 - offline, no such repo, no network
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _fail(spec, f"cannot fetch from the hub: {first}") from None


def _source_files(spec, cache: Path) -> tuple[Path, Path | None]:
    """(tokenizer.json, its directory if it came in one) of a user tokenizer."""
    path = _hub_dir(spec, cache) if spec.tokenizer.startswith("hf:") else Path(spec.tokenizer)
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise _fail(spec, "no tokenizer.json in this directory (only fast tokenizers, "
                        "saved by the tokenizers library, are supported)")
        return path / "tokenizer.json", path
    if not path.exists():
        raise _fail(spec, "no such file or directory")
    return path, None


def _load_backend(spec, file: Path):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(file))
    except Exception as err:  # noqa: BLE001 - a Rust error: not JSON, or not a tokenizer
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise _fail(spec, f"cannot load {file.name}: {first}") from None


def _configured_eos(directory: Path | None) -> str | None:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = directory / name if directory else None
        if path and path.is_file():
            try:
                eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token")
            except (ValueError, AttributeError):
                continue
            eos = eos.get("content") if isinstance(eos, dict) else eos
            if isinstance(eos, str) and eos:
                return eos
    return None


def _eos_token(spec, backend, directory: Path | None) -> str:
    vocab = backend.get_vocab(with_added_tokens=True)
    if spec.eos_token is not None:
        if spec.eos_token not in vocab:
            raise ConfigError(f"data.eos_token: {spec.eos_token!r} is not in the vocabulary of "
                              f"{spec.tokenizer}")
        return spec.eos_token
    found = _configured_eos(directory) or next((t for t in EOS_CANDIDATES if t in vocab), None)
    if found is None or found not in vocab:
        raise _fail(spec, f"no end-of-document token found (looked for its eos_token and "
                    f"{', '.join(EOS_CANDIDATES)}); set data.eos_token")
    return found


def _normalised(file: Path, directory: Path | None, eos: str, out: Path) -> dict:
    from transformers import PreTrainedTokenizerFast

    if directory is not None:
        fast = PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    else:
        fast = PreTrainedTokenizerFast(tokenizer_file=str(file))
    if fast.eos_token != eos:
        fast.eos_token = eos
    if fast.pad_token is None:
        fast.pad_token = eos
    fast.save_pretrained(str(out))
    return {"source": str(file), "eos_token": eos}


def user_tokenizer(spec, cache_dir: str | Path | None = None) -> TokenizerInfo:
    """The user tokenizer of ``spec``, normalised into the cache (ConfigError naming it)."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    file, directory = _source_files(spec, cache)
    backend = _load_backend(spec, file)
    eos = _eos_token(spec, backend, directory)
    h = hashlib.sha256(file.read_bytes())
    if directory is not None and (directory / "tokenizer_config.json").is_file():
        h.update((directory / "tokenizer_config.json").read_bytes())
    h.update(f"eos={eos}:v{FORMAT_VERSION}".encode())
    identity = h.hexdigest()
    out = build_once(cache / f"tokenizer-user-{identity[:12]}",
                     lambda tmp: _normalised(file, directory, eos, tmp))
    vocab = backend.get_vocab(with_added_tokens=True)
    return TokenizerInfo("user", out, vocab[eos], max(vocab.values()) + 1, identity)


def resolve_tokenizer(spec, cache_dir: str | Path | None = None, *,
                      bpe_texts: Callable[[], list[str]] | None = None) -> TokenizerInfo:
    """Any ``data.tokenizer``; a BPE is trained (once, cached) on ``bpe_texts()``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    eos_id = SPECIALS.index(EOS)
    if spec.tokenizer == "byte":
        path = tokenizer_path("byte", cache_dir=cache)
        return TokenizerInfo("byte", path, eos_id, BYTE_VOCAB_SIZE, f"byte-{path.name}")
    if spec.tokenizer == "bpe":
        assert bpe_texts is not None, "a BPE needs texts to train on"
        path = tokenizer_path("bpe", texts=bpe_texts(), vocab_size=spec.bpe_vocab_size,
                              cache_dir=cache)
        return TokenizerInfo("bpe", path, eos_id, len(load_tokenizer(path)), f"bpe-{path.name}")
    return user_tokenizer(spec, cache)
