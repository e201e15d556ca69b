"""The prompt/answer tokenization boundary that scoring and post-training share.

    context, answer = split_tokens(tokenizer, "12+7=", "19\n")
    context = truncate_context(context, answer, max_length=128)   # the left end goes first

The prompt and prompt + answer are tokenized separately (no special tokens, as the sampler
does); the answer's tokens are those of prompt + answer after the longest common prefix with
the prompt's tokens. With a byte-level tokenizer this is exactly the answer's bytes; with BPE a
merge across the boundary moves the merged token into the answer, which is the only way to
treat the text exactly as the model reads it. Gold-answer likelihoods
(t2.evaluation.likelihood) score those answer tokens; SFT (t2.models.posttrain_data) trains on
them, so a post-trained model learns exactly what evaluation later scores.
"""

from __future__ import annotations


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def split_tokens(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """(context ids, answer ids) at the tokenization boundary described in the module doc."""
    context = encode(tokenizer, prompt)
    full = encode(tokenizer, prompt + answer)
    shared = 0
    for a, b in zip(context, full):
        if a != b:
            break
        shared += 1
    if shared == 0 or shared == len(full):
        raise ValueError(f"cannot score answer {answer!r}: empty prompt or answer after tokenizing")
    return full[:shared], full[shared:]


def truncate_context(context: list[int], answer: list[int], max_length: int | None) -> list[int]:
    """``context`` without its left end so that context + answer fits ``max_length``."""
    if max_length is None or len(context) + len(answer) <= max_length:
        return context
    keep = max_length - len(answer)
    if keep < 1:
        raise ValueError(f"answer of {len(answer)} tokens does not fit max_length {max_length}")
    return context[-keep:]
