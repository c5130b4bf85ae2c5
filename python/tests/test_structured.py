"""Structured output from Python, against numpy: the allowed-token mask leaves
the distribution over the allowed tokens as it was (logprob = numpy's
log-softmax restricted to the allowed set; seeded draws pass a chi-squared
test at the 1e-6 level), and generate(...) with each kind of constraint
gives matching text."""

import json
import math
import re

import numpy as np
import pytest

import logitkit
from conftest import reference_log_softmax


def allowed_of(mask, n_vocab):
    """The boolean [n_vocab] of a [words] uint32 mask: bit t % 32 of word t / 32."""
    return np.unpackbits(np.asarray(mask, np.uint32).view(np.uint8), bitorder="little")[:n_vocab].astype(bool)


def masked_log_softmax(z, allowed):
    """float64 log-softmax of z over the allowed tokens (-inf elsewhere)."""
    return reference_log_softmax(np.where(allowed, z, -np.inf))


def chi2_survival(x, k):
    """P(X >= x) for X ~ chi-squared with k degrees of freedom: the regularized
    upper incomplete gamma Q(k/2, x/2), by its series or continued fraction."""
    a, x = k / 2.0, x / 2.0
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        for n in range(1, 10000):
            term *= x / (a + n)
            total += term
            if term < total * 1e-16:
                break
        return max(0.0, 1.0 - math.exp(log_prefix) * total)
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)  # Lentz's continued fraction for Q
    h = d
    for n in range(1, 10000):
        an = -n * (n - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return math.exp(log_prefix) * h


def test_chi2_survival_against_known_values():
    # Closed forms: k = 2 -> exp(-x/2); k = 1 -> erfc(sqrt(x/2)).
    for x in (0.5, 3.0, 40.0):
        assert chi2_survival(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
        assert chi2_survival(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)


@pytest.fixture(scope="module")
def rows(model):
    """Real rows of logits: the last 8 positions of a sentence."""
    return model.logits("The capital of France is Paris, and the capital of Italy is")[-8:]


def masks_for(model, n_vocab):
    """Masks from real constraints at their start, and a random one."""
    yield "json_object", model.matcher(json_object=True).mask()
    yield "regex digits", model.matcher(regex="[0-9]+(\\.[0-9]+)?").mask()
    yield "choice", model.matcher(choice=[" Rome", " Milan", " Roma", "Rome"]).mask()
    rng = np.random.default_rng(5)
    yield "random 30%", np.packbits(rng.random((n_vocab + 31) // 32 * 32) < 0.3, bitorder="little").view(np.uint32)


def test_logprob_under_a_mask_is_numpys_log_softmax_over_the_allowed_set(model, rows):
    head = logitkit.DecodeHead()
    n_vocab = rows.shape[1]
    for name, mask in masks_for(model, n_vocab):
        allowed = allowed_of(mask, n_vocab)
        assert allowed.any(), name
        for i, z in enumerate(rows):
            ref = masked_log_softmax(z, allowed)
            for step in range(5):
                d = head.decode(z, allowed_mask=mask, seed=1, step=step, outputs="all")
                assert allowed[d.token], (name, i, d.token)
                want = ref[d.token]
                assert abs(d.logprob - want) <= 1e-6 * max(1.0, abs(want)), (name, i, d.logprob, want)
                raw = reference_log_softmax(z)[d.token]  # the raw logprob is the model's own
                assert abs(d.raw_logprob - raw) <= 1e-5 * max(1.0, abs(raw))


def test_draws_under_a_mask_follow_the_masked_softmax(model, rows):
    z = rows[-1]
    mask = model.matcher(regex="[0-9]+|[A-Z][a-z]+").mask()
    allowed = allowed_of(mask, z.size)
    p = np.exp(masked_log_softmax(z, allowed))
    draws, batch = 20000, 200
    head = logitkit.DecodeHead(threads=2)
    counts = np.zeros(z.size, np.int64)
    block = np.ascontiguousarray(np.broadcast_to(z, (batch, z.size)))
    for start in range(0, draws, batch):
        d = head.decode(block, allowed_mask=mask, seed=17, step=np.arange(start, start + batch))
        np.add.at(counts, d.token, 1)
    assert counts[~allowed].sum() == 0
    expected = p * draws
    big = expected >= 5
    stat = float(np.sum((counts[big] - expected[big]) ** 2 / expected[big]))
    bins = int(big.sum())
    rest_e, rest_o = expected[~big].sum(), counts[~big].sum()
    if rest_e > 0:
        stat += (rest_o - rest_e) ** 2 / rest_e
        bins += 1
    assert bins >= 3
    assert chi2_survival(stat, bins - 1) > 1e-6, (stat, bins)


def test_each_constraint_kind_gives_matching_text(model):
    g = model.generate("Pick a city:", choice=["Paris", "Rome", "Oslo"], seed=3)
    assert g.text in ("Paris", "Rome", "Oslo") and g.finish_reason == "stop"
    g = model.generate("A date:", regex="20[0-9]{2}-[01][0-9]-[0-3][0-9]", seed=4, max_tokens=30)
    assert re.fullmatch("20[0-9]{2}-[01][0-9]-[0-3][0-9]", g.text) and g.finish_reason == "stop"
    g = model.generate("Answer yes or no:", grammar='root ::= ("yes" | "no") "."', temperature=0)
    assert g.text in ("yes.", "no.") and g.finish_reason == "stop"
    g = model.generate("Give a JSON object:", chat=True, json_object=True, seed=1, max_tokens=200)
    if g.finish_reason == "stop":
        assert isinstance(json.loads(g.text), dict)
    else:
        assert g.text.startswith("{")
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9}},
              "required": ["n"], "additionalProperties": False}
    for as_text in (False, True):
        g = model.generate("A number:", chat=True, json_schema=json.dumps(schema) if as_text else schema,
                           temperature=0, max_tokens=40)
        assert g.finish_reason == "stop" and 1 <= json.loads(g.text)["n"] <= 9


def test_bad_constraints_raise_naming_the_keyword(model):
    with pytest.raises(ValueError, match="keyword 'uniqueItems' at /properties/a"):
        model.generate("x", json_schema={"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}})
    with pytest.raises(ValueError, match="^grammar: .*line 1"):
        model.generate("x", grammar="root ::= (")
    with pytest.raises(ValueError, match="choice: the list is empty"):
        model.generate("x", choice=[])
    with pytest.raises(ValueError, match="regex and choice both constrain"):
        model.generate("x", regex="a", choice=["a"])
    with pytest.raises(TypeError, match="choice must be a list of str"):
        model.generate("x", choice="abc")
    with pytest.raises(ValueError, match="allowed_mask has 3 words"):
        logitkit.DecodeHead().decode(np.zeros(100, np.float32), allowed_mask=np.ones(3, np.uint32))
    with pytest.raises(TypeError, match="uint32 or int32"):
        logitkit.DecodeHead().decode(np.zeros(100, np.float32), allowed_mask=np.ones(4, np.float64))


def test_a_matcher_walks_a_text_and_ends(model):
    m = model.matcher(choice=["yes", "no"])
    mask = m.mask()
    allowed = allowed_of(mask, model.n_vocab)
    starts = [t for t in np.flatnonzero(allowed)]
    assert all(("yes".startswith(model.token_text(t)) or "no".startswith(model.token_text(t))) for t in starts)
    first = next(t for t in starts if model.token_text(int(t)) == "no")
    m.accept(int(first))
    assert m.complete and not m.terminated
    end = np.flatnonzero(allowed_of(m.mask(), model.n_vocab))
    assert all(model.is_end_of_generation(int(t)) for t in end) and len(end) >= 1
    m.accept(int(end[0]))
    assert m.terminated
    with pytest.raises(ValueError, match="accepted an end token: no token can follow"):
        m.mask()
    with pytest.raises(ValueError, match="does not allow token"):
        model.matcher(choice=["yes"]).accept(int(first))
