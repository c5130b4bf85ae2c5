#!/usr/bin/env python3
"""`logitkit calibrate` against metrics computed here with numpy (float64).

  check_calibrate.py --tool build/release/logitkit [--model M.gguf] [--corpus kjv.txt]

1. Synthetic rows (--logits/--targets .npy, 3000 rows x 200 tokens): the next
   token is drawn from softmax(z / 1.6), so the best temperature is known.
   Every metric of the JSON report is recomputed from its definition
   (docs/analysis.md): NLL, accuracy, Brier; ECE, RMS and MCE over
   equal-width and equal-mass bins and every bin's count, confidence and
   accuracy; full ECE and the octave table; each sampling setting's coverage,
   mean mass and kept size, from a sort-based filter; the temperature, as the
   exact minimiser of the fit half's NLL (Newton in float64), which must also
   lie within 5.3 standard errors of 1/1.6 in beta = 1/T (a correct fit fails
   with probability < 1e-7); NLL, ECE and Brier on the other half at that T.
2. The default model on the first tokens of a corpus (--ctx 33, 96 positions
   in 3 windows): the windows are rebuilt here from the documented rule and
   the positions' logits come from the numpy reference forward pass
   (tests/model/reference.py); NLL, accuracy, Brier and coverage must agree.

Exit 0: all agree; 1: a mismatch; 2: setup error; 77: numpy or gguf missing
(2 when LOGITKIT_REQUIRE_PEERS=1).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = ["top_p=0.9", "t=0.7,min_p=0.05,top_k=20", "t=1.3,top_p=0.5"]
FINE = 1 << 16
OCTAVES = 40

failures = []


def check(what, got, want, tol):
    ok = abs(got - want) <= tol
    if not ok:
        failures.append(f"{what}: {got!r} vs reference {want!r} (tolerance {tol})")
    return ok


def parse_setting(spec):
    s = {"t": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0}
    for part in spec.split(","):
        k, v = part.split("=")
        s[k] = float(v)
    return s


def softmax(np, z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def bins_of(np, values, outcomes, n_bins):
    """Equal-width bins as documented: [i/B, (i+1)/B), 1.0 in the last."""
    idx = np.minimum((values * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf = np.bincount(idx, weights=values, minlength=n_bins)
    acc = np.bincount(idx, weights=outcomes, minlength=n_bins)
    return count, conf, acc


def errors_of(np, count, conf, acc, total=None):
    total = count.sum() if total is None else total
    nz = count > 0
    gap = np.abs(acc[nz] / count[nz] - conf[nz] / count[nz])
    w = count[nz] / total
    return {"ece": float((w * gap).sum()), "rms": float(math.sqrt((w * gap * gap).sum())), "mce": float(gap.max())}


def sampling_reference(np, z, y, spec):
    """The kept set of temperature -> top-k -> top-p -> min-p, by sorting."""
    s = parse_setting(spec)
    x = z / np.float32(s["t"]) if s["t"] != 1.0 else z.astype(np.float64)
    x = x.astype(np.float64)
    q_full = softmax(np, x)
    kept_total, masses, hits = 0.0, [], []
    for r in range(x.shape[0]):
        keep = np.ones(x.shape[1], bool)
        order = np.argsort(-x[r], kind="stable")
        if s["top_k"] > 0:
            keep[:] = False
            keep[order[: int(s["top_k"])]] = True
        if s["top_p"] < 1.0:
            q = np.where(keep, np.exp(x[r] - x[r].max()), 0.0)
            q /= q.sum()
            cum = np.cumsum(q[order])
            n = int(np.searchsorted(cum, s["top_p"]) + 1)  # the token that crosses p is kept
            new = np.zeros_like(keep)
            new[order[:n]] = True
            keep &= new
        if s["min_p"] > 0.0:
            top = x[r][keep].max()
            keep &= x[r] >= top + math.log(s["min_p"])
        hits.append(float(keep[y[r]]))
        masses.append(q_full[r][keep].sum())
        kept_total += keep.sum()
    n = x.shape[0]
    masses, hits = np.array(masses), np.array(hits)
    return hits.mean(), masses.mean(), kept_total / n, masses, hits


def top_label(np, z, y, T=1.0):
    p = softmax(np, z.astype(np.float64) / T)
    arg = p.argmax(axis=1)  # the lowest index among ties
    conf = p.max(axis=1)
    correct = (arg == y).astype(np.float64)
    py = p[np.arange(len(y)), y]
    nll = -np.log(py)
    brier = (p * p).sum(axis=1) - 2 * py + 1
    return p, conf, correct, nll, brier


def fit_temperature(np, z, y):
    """Newton on the mean NLL in beta = 1/T (convex), in float64."""
    z = z.astype(np.float64)
    zy = z[np.arange(len(y)), y]
    beta = 1.0
    for _ in range(100):
        x = beta * z
        x = x - x.max(axis=1, keepdims=True)
        q = np.exp(x)
        q /= q.sum(axis=1, keepdims=True)
        mean = (q * z).sum(axis=1)
        var = (q * z * z).sum(axis=1) - mean * mean
        d1, d2 = (mean - zy).sum(), var.sum()
        step = d1 / d2
        beta -= step
        if abs(step) < 1e-14:
            break
    return beta, d2


def synthetic(np, tool, tmp):
    rng = np.random.default_rng(20261127)
    N, V, T_true, B = 3000, 200, 1.6, 15
    z = (rng.standard_normal((N, V)) * 3.0).astype(np.float32)
    z[5, 7] = z[5, 9] = z[5].max() + 1  # a tie at the top: the lower index is the prediction
    p_true = softmax(np, z.astype(np.float64) / T_true)
    y = np.array([rng.choice(V, p=row) for row in p_true], dtype=np.int64)
    y[5] = 9
    np.save(os.path.join(tmp, "z.npy"), z)
    np.save(os.path.join(tmp, "y.npy"), y)
    cmd = [tool, "calibrate", "--logits", os.path.join(tmp, "z.npy"), "--targets", os.path.join(tmp, "y.npy"),
           "--bins", str(B), "--fit-fraction", "0.5", "--json"]
    for s in SETTINGS:
        cmd += ["--sampling", s]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        failures.append(f"logitkit calibrate failed: {run.stderr.strip()}")
        return
    got = json.loads(run.stdout)

    p, conf, correct, nll, brier = top_label(np, z, y)
    top = got["top"]
    check("positions", top["positions"], N, 0)
    check("nll", top["nll"], nll.mean(), 1e-6)
    check("accuracy", top["accuracy"], correct.mean(), 1e-12)
    check("brier", top["brier"], brier.mean(), 1e-6)
    count, csum, asum = bins_of(np, conf, correct, B)
    check("equal-width bins", len(top["bins"]), B, 0)
    for i, b in enumerate(top["bins"]):
        check(f"bin {i} count", b["count"], count[i], 0)
        if count[i]:
            check(f"bin {i} confidence", b["confidence"], csum[i] / count[i], 1e-6)
            check(f"bin {i} accuracy", b["accuracy"], asum[i] / count[i], 1e-9)  # JSON has 9 digits
    for k, v in errors_of(np, count, csum, asum).items():
        check(f"equal-width {k}", top["equal_width"][k], v, 1e-6)

    # Equal-mass: fine bins of 2^-16 merged once the running count reaches i * N / B.
    fine = np.minimum((conf * FINE).astype(np.int64), FINE - 1)
    order = np.argsort(fine, kind="stable")
    fc = np.bincount(fine, minlength=FINE)
    running, nxt, edges = 0, 1, []
    for f in np.nonzero(fc)[0]:
        running += fc[f]
        if running * B >= nxt * N:
            edges.append(f + 1)
            while nxt <= B and running * B >= nxt * N:
                nxt += 1
    em = got["equal_mass_bins"]
    check("equal-mass bin count", len(em), len(edges), 0)
    lo = 0
    em_count, em_conf, em_acc = [], [], []
    for i, hi in enumerate(edges):
        sel = (fine >= lo) & (fine < hi)
        em_count.append(sel.sum()), em_conf.append(conf[sel].sum()), em_acc.append(correct[sel].sum())
        if i < len(em):
            check(f"equal-mass bin {i} count", em[i]["count"], sel.sum(), 0)
            check(f"equal-mass bin {i} lo", em[i]["lo"], lo / FINE, 1e-9)
        lo = hi
    ref = errors_of(np, np.array(em_count), np.array(em_conf), np.array(em_acc))
    for k, v in ref.items():
        check(f"equal-mass {k}", got["equal_mass"][k], v, 1e-6)

    # Full calibration: every probability against its outcome.
    onehot = np.zeros_like(p)
    onehot[np.arange(N), y] = 1
    fcount, fsum, facc = bins_of(np, p.ravel(), onehot.ravel(), B)
    check("full bins", len(got["full_bins"]), B, 0)
    for i, b in enumerate(got["full_bins"]):
        check(f"full bin {i} count", b["count"], fcount[i], 0)
        if fcount[i]:
            check(f"full bin {i} confidence", b["confidence"], fsum[i] / fcount[i], 1e-6 * fsum[i] / fcount[i])
            check(f"full bin {i} accuracy", b["accuracy"], facc[i] / fcount[i], 1e-9)
    for k, v in errors_of(np, fcount, fsum, facc).items():
        check(f"full {k}", got["full"][k], v, 1e-6)
    # p in [2^-(i+1), 2^-i), 1.0 in octave 0, 0 and what is below 2^-39 in the last.
    _, exponent = np.frexp(p.ravel())  # p = m 2^e, m in [0.5, 1)
    octave = np.where(p.ravel() > 0, np.clip(-exponent, 0, OCTAVES - 1), OCTAVES - 1)
    oc = np.bincount(octave, minlength=OCTAVES)
    osum = np.bincount(octave, weights=p.ravel(), minlength=OCTAVES)
    oacc = np.bincount(octave, weights=onehot.ravel(), minlength=OCTAVES)
    check("octaves", len(got["full_octaves"]), OCTAVES, 0)
    for i, b in enumerate(got["full_octaves"]):
        check(f"octave {i} count", b["count"], oc[i], 0)
        if oc[i]:
            check(f"octave {i} confidence", b["confidence"], osum[i] / oc[i], 1e-6 * osum[i] / oc[i])
            check(f"octave {i} accuracy", b["accuracy"], oacc[i] / oc[i], 1e-9)

    check("sampling settings", len(got["sampling"]), len(SETTINGS), 0)
    for spec, g in zip(SETTINGS, got["sampling"]):
        coverage, mass, kept, masses, hits = sampling_reference(np, z, y, spec)
        check(f"{spec} coverage", g["coverage"], coverage, 2.0 / N)   # a boundary token may flip
        check(f"{spec} mean mass", g["mean_mass"], mass, 2e-3 / N + 1e-6)
        check(f"{spec} mean kept", g["mean_kept"], kept, 2.0 / N)
        scount, ssum, shit = bins_of(np, masses, hits, B)
        for i, b in enumerate(g["bins"]):
            check(f"{spec} bin {i} count", b["count"], scount[i], 2)
        check(f"{spec} set ECE", g["errors"]["ece"], errors_of(np, scount, ssum, shit)["ece"], 4.0 / N)

    # Temperature: the exact minimiser on the first half, then the second half at that T.
    t = got["temperature"]
    half = N // 2
    beta, info = fit_temperature(np, z[:half], y[:half])
    check("fitted T (relative)", t["temperature"] * beta, 1.0, 1e-5)
    se = 1 / math.sqrt(info)
    check("fitted beta vs the true 1/1.6 (5.3 standard errors)", 1 / t["temperature"], 1 / T_true, 5.3 * se)
    _, conf2, correct2, nll2, brier2 = top_label(np, z[half:], y[half:], t["temperature"])
    check("after: nll", t["after"]["nll"], nll2.mean(), 1e-6)
    check("after: brier", t["after"]["brier"], brier2.mean(), 1e-6)
    c2, s2, a2 = bins_of(np, conf2, correct2, B)
    check("after: ece", t["after"]["equal_width"]["ece"], errors_of(np, c2, s2, a2)["ece"], 1e-6)
    _, conf1, correct1, nll1, brier1 = top_label(np, z[half:], y[half:])
    check("before: nll", t["before"]["nll"], nll1.mean(), 1e-6)
    check("before: brier", t["before"]["brier"], brier1.mean(), 1e-6)
    c1, s1, a1 = bins_of(np, conf1, correct1, B)
    check("before: ece", t["before"]["equal_width"]["ece"], errors_of(np, c1, s1, a1)["ece"], 1e-6)
    check("the fit lowers the eval NLL", float(t["after"]["nll"] < t["before"]["nll"]), 1.0, 0)
    # The curve: the exact mean NLL of the fit half at each grid T.
    for pt in t["curve"][::8]:
        _, _, _, nll_t, _ = top_label(np, z[:half], y[:half], pt["t"])
        check(f"curve at T={pt['t']:.3f}", pt["nll"], nll_t.mean(), 1e-8 * nll_t.mean())
    print(f"synthetic: {N} rows x {V}: T {t['temperature']:.6f} vs exact {1 / beta:.6f} (true {T_true}, "
          f"SE in beta {se:.4f}); ECE {top['equal_width']['ece']:.4f} -> after {t['after']['equal_width']['ece']:.4f}")


def bad_inputs(np, tool, tmp):
    """Malformed .npy files and rows: exit 2 with a message, never a crash."""
    y = os.path.join(tmp, "y8.npy")
    np.save(y, np.arange(8, dtype=np.int32))
    def npy(name, header, data=b""):
        path = os.path.join(tmp, name)
        h = header.encode()
        h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
        with open(path, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + data)
        return path
    z = (np.random.default_rng(3).standard_normal((8, 10))).astype(np.float32)
    zinf = z.copy()
    zinf[5, 3] = -np.inf
    np.save(os.path.join(tmp, "zinf.npy"), zinf)
    y3 = np.full(8, 3, dtype=np.int32)
    np.save(os.path.join(tmp, "y3.npy"), y3)
    cases = [
        ("shape overflow", npy("ovf.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 2305843009213693952), }"), y, "too large"),
        ("negative dim", npy("neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }"), y, "non-negative"),
        ("float64", npy("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (8, 10), }", bytes(640)), y, "<f8"),
        ("truncated", npy("short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (8, 10), }", bytes(100)), y, "bytes"),
        ("not npy", y + "x", y, "cannot read"),
        ("next token at -inf", os.path.join(tmp, "zinf.npy"), os.path.join(tmp, "y3.npy"), "row 5: the next token 3 has logit -inf"),
    ]
    with open(y + "x", "wb"):
        pass
    os.remove(y + "x")
    for what, logits, targets, want in cases:
        run = subprocess.run([tool, "calibrate", "--logits", logits, "--targets", targets], capture_output=True, text=True)
        ok = run.returncode == 2 and want in run.stderr
        check(f"bad input ({what}): exit {run.returncode}, {run.stderr.strip()!r}", float(ok), 1.0, 0)


def real_model(np, tool, model_path, corpus, tmp):
    sys.path.insert(0, os.path.join(HERE, "..", "model"))
    import reference
    with open(corpus, encoding="utf-8") as f:
        text = "".join(f.readline() for _ in range(12))
    path = os.path.join(tmp, "corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    ctx, max_tokens = 33, 97
    run = subprocess.run([tool, "calibrate", "--corpus", path, "--model", model_path, "--ctx", str(ctx),
                          "--max-tokens", str(max_tokens), "--json", "--sampling", "top_p=0.9"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        failures.append(f"logitkit calibrate --corpus failed: {run.stderr.strip()}")
        return
    got = json.loads(run.stdout)
    tok = subprocess.run([tool, "tokenize", "--vocab", model_path, "--no-bos"], input=text, capture_output=True,
                         text=True)
    ids = [int(v) for v in tok.stdout.split()][:max_tokens]
    model = reference.load(model_path)
    # Windows: the first token is context; then ctx - 1 new tokens per window, each window
    # starting with the last token of the one before (this vocabulary adds no BOS).
    rows, targets, start = [], [], 0
    while start + 1 < len(ids):
        window = ids[start:start + ctx]
        rows.append(reference.logits(model, window[:-1]))
        targets += window[1:]
        start += ctx - 1
    z = np.concatenate(rows)
    y = np.array(targets)
    _, conf, correct, nll, brier = top_label(np, z, y)
    top = got["top"]
    check("model: positions", top["positions"], len(y), 0)
    check("model: nll", top["nll"], nll.mean(), 1e-4)
    check("model: brier", top["brier"], brier.mean(), 1e-4)
    check("model: accuracy", top["accuracy"], correct.mean(), 1.0 / len(y))
    coverage, mass, _, _, _ = sampling_reference(np, z.astype(np.float32), y, "top_p=0.9")
    check("model: top_p=0.9 coverage", got["sampling"][0]["coverage"], coverage, 1.0 / len(y))
    check("model: top_p=0.9 mean mass", got["sampling"][0]["mean_mass"], mass, 1e-4)
    print(f"model: {len(y)} positions in {len(rows)} windows: NLL {top['nll']:.5f} vs reference {nll.mean():.5f}, "
          f"accuracy {top['accuracy']:.4f} vs {correct.mean():.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="the logitkit binary")
    parser.add_argument("--model", help="GGUF model (default: the default model)")
    parser.add_argument("--corpus", help="a text corpus (default: scripts/fetch-corpus's, when present)")
    args = parser.parse_args()
    try:
        import numpy as np
        sys.path.insert(0, os.path.join(HERE, "..", "model"))
        from check_logits import SetupError, default_model
    except ImportError as e:
        print(f"check_calibrate: {e}: run scripts/python-env", file=sys.stderr)
        return 2 if os.environ.get("LOGITKIT_REQUIRE_PEERS") == "1" else 77
    if not os.access(args.tool, os.X_OK):
        print(f"check_calibrate: {args.tool} is not an executable (build it first)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        synthetic(np, args.tool, tmp)
        bad_inputs(np, args.tool, tmp)
        corpus = args.corpus or os.path.join(os.environ.get("LOGITKIT_CACHE", os.path.expanduser("~/.cache/logitkit")),
                                             "corpus", "kjv.txt")
        try:
            model_path = args.model or default_model()
        except SetupError as e:
            print(f"check_calibrate: {e}", file=sys.stderr)
            return 2
        if os.path.exists(corpus):
            real_model(np, args.tool, model_path, corpus, tmp)
        elif os.environ.get("LOGITKIT_REQUIRE_MODEL") == "1":
            print(f"check_calibrate: no corpus at {corpus}: run scripts/fetch-corpus", file=sys.stderr)
            return 2
        else:
            print("check_calibrate: no corpus: the model part is skipped (scripts/fetch-corpus)")
    for f in failures:
        print("  MISMATCH " + f, file=sys.stderr)
    print(f"check_calibrate: {'0 failures' if not failures else f'{len(failures)} FAILURES'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
