"""Arrays are read in place (no copy, no conversion); anything else is
rejected with a message that names the parameter and says what to pass. A
library Status becomes a Python exception carrying its message verbatim."""

import threading
import time
import tracemalloc

import numpy as np
import pytest

import logitkit

V = 50257


def test_decode_reads_a_large_batch_without_copying_it():
    x = np.random.default_rng(1).standard_normal((64, V)).astype(np.float32)  # 12.9 MB
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        logitkit.decode(x, temperature=0.7, top_p=0.9, top_logprobs=5)
        logitkit.softmax(x[3])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 20, f"peak Python-side allocation {peak} bytes for a {x.nbytes}-byte input"


def test_in_place_filter_edits_the_callers_buffer():
    base = np.zeros((4, 10), np.float32)
    base[:, 3] = 1.0
    logitkit.top_k(base[1:3], 1, inplace=True)  # a C-contiguous view: its rows are base's
    assert np.isneginf(base[1:3]).sum() == 18 and np.isneginf(base[[0, 3]]).sum() == 0
    mv = memoryview(np.zeros(8, np.float32))  # any buffer-protocol object works
    assert logitkit.softmax(mv).shape == (8,)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((4, 10), np.float32)[:, ::2], ValueError, "logits must be C-contiguous"),
    (np.asfortranarray(np.zeros((4, 10), np.float32)), ValueError, "logits must be C-contiguous"),
    (np.zeros(10, np.float64), TypeError, "logits must be float32, got an array of float64"),
    (np.zeros(10, ">f4"), TypeError, "logits must be float32"),
    (np.zeros(10, np.int32), TypeError, "logits must be float32"),
    (np.zeros(10, np.float16), TypeError, "logits must be float32, got an array of float16"),
    ([0.0, 1.0], TypeError, "logits must be a numpy array of float32, got a list"),
    (np.zeros((2, 3, 4), np.float32), ValueError, "logits must be 1-D .n_vocab. or 2-D .n_rows, n_vocab., got 3-D"),
    (np.zeros(0, np.float32), ValueError, "n_vocab = 0"),
])
def test_softmax_rejects_what_it_would_have_to_convert(bad, error, message):
    with pytest.raises(error, match=message) as e:
        logitkit.softmax(bad)
    if "C-contiguous" in message or "float32, got" in message:
        assert "np.ascontiguousarray(logits, dtype=np.float32)" in str(e.value)


def test_decode_takes_float16_but_not_float64():
    logitkit.decode(np.zeros(10, np.float16))
    with pytest.raises(TypeError, match="float32 or float16"):
        logitkit.decode(np.zeros(10, np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        logitkit.decode(np.zeros((3, 10), np.float16)[:, 1:])


def test_library_errors_carry_the_library_message():
    nan = np.zeros(10, np.float32)
    nan[3] = np.nan
    cases = [
        (lambda: logitkit.decode(nan), "logits[3] = nan: logits must be finite or -inf"),
        (lambda: logitkit.softmax(nan), "logits[3] = nan: logits must be finite or -inf"),
        (lambda: logitkit.decode(np.zeros(4, np.float32), temperature=-1),
         "temperature = -1 must be finite and >= 0 (0 = greedy)"),
        (lambda: logitkit.softmax(np.zeros(4, np.float32), -1), "temperature = -1 must be finite and > 0"),
        (lambda: logitkit.decode(np.zeros(4, np.float32), top_p=0), "top_p = 0 is outside (0, 1]"),
        (lambda: logitkit.decode(np.zeros((2, 4), np.float32), top_p=0), "top_p = 0 is outside (0, 1]"),
        (lambda: logitkit.decode(np.zeros(4, np.float32), history=[7], presence_penalty=1),
         "history[0] = 7 is outside [0, n_vocab = 4)"),
        (lambda: logitkit.decode(np.full(4, -np.inf, np.float32)),
         "no token left to choose: every logit is -inf or masked by the processors"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert str(e.value) == message
        assert e.value.status_code in ("INVALID_ARGUMENT", "OUT_OF_RANGE", "FAILED_PRECONDITION")


def test_a_bad_row_in_a_batch_is_named():
    x = np.zeros((3, 4), np.float32)
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"^row 2: logits\[1\] = inf"):
        logitkit.decode(x)


@pytest.mark.parametrize("code, exception", [
    ("INVALID_ARGUMENT", ValueError), ("OUT_OF_RANGE", ValueError), ("FAILED_PRECONDITION", ValueError),
    ("NOT_FOUND", FileNotFoundError), ("DATA_LOSS", OSError), ("RESOURCE_EXHAUSTED", MemoryError),
    ("UNIMPLEMENTED", NotImplementedError), ("INTERNAL", RuntimeError),
])
def test_status_codes_map_to_exceptions(code, exception):
    with pytest.raises(exception) as e:
        logitkit._logitkit._raise_status(code, "the message")
    assert str(e.value) == "the message" and e.value.status_code == code


def test_bad_arguments_name_the_parameter():
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"seed = -1 is not an integer"):
        logitkit.decode(x, seed=-1)
    with pytest.raises(ValueError, match="step has 3 values for 2 rows"):
        logitkit.decode(x, step=[1, 2, 3])
    with pytest.raises(ValueError, match="history has 3 sequences for 2 rows"):
        logitkit.decode(x, history=[[0], [1], [2]])
    with pytest.raises(TypeError, match="history must hold integer token ids"):
        logitkit.decode(x, history=[0.5])
    with pytest.raises(ValueError, match="order: unknown stage 'bogus'"):
        logitkit.decode(x, order=["bogus"])
    with pytest.raises(ValueError, match="top_k is set but missing from order"):
        logitkit.decode(x, top_k=2, order=["temperature"])
    with pytest.raises(ValueError, match="alternatives = 'x'"):
        logitkit.decode(x, alternatives="x")


def test_rows_beyond_the_largest_vocabulary_are_refused_before_any_copy():
    # 4 GiB of address space that is never touched: the check comes before the copy.
    huge = np.empty(2**30 + 1, np.float32)
    for call in (lambda: logitkit.top_k(huge, 5), lambda: logitkit.softmax(huge), lambda: logitkit.decode(huge)):
        with pytest.raises(ValueError, match="n_vocab = 1073741825, more than the supported maximum 1073741824"):
            call()


def test_token_ids_are_checked_against_the_rows_vocabulary():
    x = np.zeros(10, np.float32)
    for name in ("banned_tokens", "allowed_tokens", "eos_tokens", "history"):
        with pytest.raises(ValueError, match=rf"{name}\[1\] = -3 is outside \[0, n_vocab = 10\)"):
            logitkit.decode(x, **{name: [1, -3]})
    with pytest.raises(ValueError, match=r"logit_bias: token 12 is outside \[0, n_vocab = 10\)"):
        logitkit.decode(x, logit_bias={1: 0.5, 12: 1.0})
    with pytest.raises(ValueError, match="n_generated = -1 must be >= 0"):
        logitkit.decode(x, n_generated=-1)


def test_missing_files_and_corrupt_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="cannot open"):
        logitkit.Model(str(tmp_path / "none.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(OSError, match="not a GGUF file") as e:
        logitkit.Model(junk)
    assert e.value.status_code == "DATA_LOSS"
    monkeypatch.delenv("LOGITKIT_MODEL", raising=False)
    monkeypatch.setenv("LOGITKIT_CACHE", str(tmp_path))
    assert logitkit.default_model_path() == str(tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf")
    with pytest.raises(FileNotFoundError, match="scripts/fetch-model"):
        logitkit.Model()


def test_the_gil_is_released_while_rows_are_computed():
    x = np.random.default_rng(2).standard_normal((256, V)).astype(np.float32)
    times = {}

    def work():  # one call: holding the GIL, it would stop the main thread for its whole length
        times["start"] = time.perf_counter()
        logitkit.decode(x, top_p=0.9)
        times["end"] = time.perf_counter()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    span = times["end"] - times["start"]
    if span < 0.03:
        pytest.skip(f"the call took {span:.3f} s: too short to tell")
    # Released, this thread ticks all along the call (gaps: the OS scheduler's,
    # a few ms); held, one gap covers nearly all of it (measured: 93%).
    edges = [times["start"]] + [t for t in ticks if times["start"] < t < times["end"]] + [times["end"]]
    gap = max(np.diff(edges))
    assert gap < 0.5 * span, f"largest gap {gap:.3f} s in a call of {span:.3f} s"


def test_one_head_is_safe_from_several_threads():
    x = np.random.default_rng(3).standard_normal((8, 5000)).astype(np.float32)
    head = logitkit.DecodeHead()
    want = head.decode(x, seed=1, stream=np.arange(8), top_p=0.9).token
    results = []

    def work():
        for _ in range(20):
            results.append(head.decode(x, seed=1, stream=np.arange(8), top_p=0.9).token)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 60 and all(np.array_equal(r, want) for r in results)


def test_a_wrong_argument_gets_one_line_not_pybinds_signature_dump(model):
    calls = [(lambda: model.tokenize("a", foo=1), "tokenize() got an unexpected keyword argument 'foo'"),
             (lambda: model.session(bar=2), "session() got an unexpected keyword argument 'bar'"),
             (lambda: logitkit.softmax([1.0], temp=2), "softmax() got an unexpected keyword argument 'temp'"),
             (lambda: logitkit.ChatTemplate(1), "ChatTemplate() got arguments of the wrong types or number"),
             (lambda: logitkit.DecodeHead(thread=2), "DecodeHead() got an unexpected keyword argument 'thread'")]
    for call, words in calls:
        with pytest.raises(TypeError) as e:
            call()
        message = str(e.value)
        assert message.startswith(words) and "it takes (" in message
        assert "Invoked with" not in message and "\n" not in message
