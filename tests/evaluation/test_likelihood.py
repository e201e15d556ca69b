"""Gold-answer likelihoods on a tiny random Llama: batched = unbatched, boundary, truncation."""

import math

import pytest
import torch
from t2.evaluation.likelihood import gold_logprobs, score_pairs, split_tokens
from t2.evaluation.tasks import Problem, get_task


@pytest.fixture(scope="module")
def model_and_tokenizer():
    from t2.models.tokenizer import get_tokenizer
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = get_tokenizer("byte")
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tok


def unbatched_nll(model, tok, prompt: str, answer: str, max_length: int = 256) -> float:
    """Reference: one unpadded sequence, the answer's bytes scored token by token."""
    context = tok(prompt, add_special_tokens=False)["input_ids"]
    target = tok(answer, add_special_tokens=False)["input_ids"]  # byte-level: no boundary merge
    context = context[-(max_length - len(target)):]
    ids = torch.tensor([context + target])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    return -sum(float(logprobs[len(context) - 1 + i, t]) for i, t in enumerate(target))


@pytest.fixture(scope="module")
def problems():
    mixed = get_task("arithmetic").problems(num=2, seed=0) + get_task("spatial").problems(1)
    mixed.append(Problem(id="mc", prompt="Question: Largest planet?\nAnswer:",
                         answers=(" Jupiter",), choices=(" Mars", " Jupiter", " a"),
                         gold_index=1))
    mixed.append(Problem(id="long", prompt="x" * 600 + "\nAnswer:", answers=(" yes",)))
    return mixed


@pytest.fixture(scope="module")
def reference(model_and_tokenizer, problems):
    model, tok = model_and_tokenizer
    return [[unbatched_nll(model, tok, p.prompt, o) for o in (p.choices or p.answers[:1])]
            for p in problems]


@pytest.mark.parametrize("batch_size", [1, 4])
def test_batched_scores_equal_unbatched_per_problem_scores(model_and_tokenizer, problems,
                                                           reference, batch_size):
    model, tok = model_and_tokenizer
    rows = gold_logprobs(model, tok, problems, batch_size=batch_size)
    assert len(rows) == len(problems)
    for problem, row, expected in zip(problems, rows, reference):
        assert row["nll"] == pytest.approx(expected[problem.gold_index or 0], rel=1e-4, abs=1e-4)
        assert row["num_answer_tokens"] == len(problem.answers[0].encode())
        if problem.choices:
            assert row["choice_nll"] == pytest.approx(expected, rel=1e-4, abs=1e-4)
            assert row["mc_correct"] == (min(range(3), key=expected.__getitem__) == 1)
            assert row["choice_num_tokens"] == [len(c.encode()) for c in problem.choices]
        else:
            assert "choice_nll" not in row


def test_likelihoods_are_probabilities(problems, reference):
    for problem, expected in zip(problems, reference):
        nll = expected[problem.gold_index or 0]
        assert nll > 0 and 0 < math.exp(-nll) < 1
        # an untrained byte model is near uniform over 259 tokens per answer byte
        assert nll / len(problem.answers[0].encode()) == pytest.approx(math.log(259), rel=0.2)


def test_long_prompts_are_truncated_from_the_left(model_and_tokenizer):
    model, tok = model_and_tokenizer
    prompt, answer = "abc" * 200 + "\nAnswer:", " yes"
    [(nll, num), (short_nll, _)] = [
        score_pairs(model, tok, [(prompt, answer)], max_length=m)[0] for m in (None, 64)]
    assert num == 4
    assert nll == pytest.approx(unbatched_nll(model, tok, prompt, answer), rel=1e-4)
    assert short_nll == pytest.approx(unbatched_nll(model, tok, prompt, answer, 64), rel=1e-4)
    assert short_nll != pytest.approx(nll, rel=1e-6)


def test_boundary_takes_the_tokens_after_the_shared_prefix():
    from t2.models.tokenizer import get_tokenizer

    texts = ["the answer is yes. the answer is no. answers: yes, no."] * 50
    bpe = get_tokenizer("bpe", texts=texts, vocab_size=300)
    for prompt, answer in [("the answer is", " yes"), ("answers: y", "es"), ("the", " answer")]:
        context, target = split_tokens(bpe, prompt, answer)
        full = bpe(prompt + answer, add_special_tokens=False)["input_ids"]
        assert context + target == full and target
        assert bpe.decode(target).endswith(answer)


def test_unscorable_inputs_are_rejected(model_and_tokenizer):
    model, tok = model_and_tokenizer
    with pytest.raises(ValueError, match="cannot score"):
        score_pairs(model, tok, [("prompt", "")])
    with pytest.raises(ValueError, match="batch_size"):
        score_pairs(model, tok, [("a", "b")], batch_size=0)
