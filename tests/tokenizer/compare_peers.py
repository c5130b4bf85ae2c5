#!/usr/bin/env python3
"""Compares logitkit's tokenizers with independent implementations ("peers").

For each tokenizer source file it converts the file to a GGUF vocabulary with
`logitkit vocab convert`, tokenizes a corpus with `logitkit tokenize --lines
--no-bos`, and compares every line's ids with the peer's:

  --tiktoken FILE         Llama 3 style BPE ranks (base64 token, rank per line);
                          peer: tiktoken with Llama 3's pre-tokenizer regex,
                          no special tokens (encode_ordinary).
  --sentencepiece FILE    a SentencePiece .model; peer: the sentencepiece
                          package, encode without BOS/EOS.

With neither option it uses what scripts/fetch-vocabs puts in
${LOGITKIT_CACHE:-~/.cache/logitkit}/vocab/ (llama3-tokenizer.model and
mistral-v1-tokenizer.model; --all-vocabs adds mistral-v3-tokenizer.model).

The corpus (deterministic for a given --seed): a few thousand lines of real
text that exists offline on Debian 12 plus the project's venv (license texts,
Python's standard library, the repo's docs, ../shared's seed and tokenizer
vectors, gettext translations under /usr/share/locale when present, CLDR
names, dates and numbers in ~150 locales from babel) and random lines (random
Unicode: many scripts, CJK, emoji sequences, combining marks, digits of many
scripts, punctuation, whitespace and control characters, long runs,
special-token look-alikes). Lines never contain '\\n' and never end in '\\r'.

Run with the venv's python (scripts/python-env --print-python):

  PY=$(scripts/python-env --print-python)
  $PY tests/tokenizer/compare_peers.py build/release/logitkit
  $PY tests/tokenizer/compare_peers.py build/release/logitkit --json
  $PY tests/tokenizer/compare_peers.py --peer-only      # no logitkit: peers and corpus only

Exit status: 0 all lines match, 1 some line differs, 2 setup error (missing
binary or file, the CLI failed or printed something unparsable, a peer does
not reproduce llama.cpp's reference vectors).
"""

from __future__ import annotations

import argparse
import base64
import glob
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import random
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
VECTOR_SEPARATOR = "\n__ggml_vocab_test__\n"

# How many lines each real source contributes at most (before deduplication).
REAL_QUOTAS = {
    "licenses": 700,
    "python-stdlib": 900,
    "repo-docs": 300,
    "shared-seed": 300,
    "vectors": 200,
    "translations": 1000,
    "cldr": 1000,
}


class SetupError(Exception):
    """Something other than a token mismatch went wrong (exit status 2)."""


@dataclass
class Line:
    source: str  # corpus source, e.g. "licenses" or "random"
    origin: str  # where exactly: file:line, locale, generator seed
    text: str


@dataclass
class Corpus:
    lines: list[Line] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)  # source -> why it is empty


# --------------------------------------------------------------------------
# Real text


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(f"{seed}:{name}")


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _file_lines(path: str, label: str) -> list[Line]:
    text = _read_text(path)
    if text is None:
        return []
    out = []
    for i, raw in enumerate(text.split("\n"), 1):
        s = raw.rstrip("\r")
        if s.strip():
            out.append(Line("", f"{label}:{i}", s))
    return out


def _sample(rng: random.Random, items: list, n: int) -> list:
    if len(items) <= n:
        return list(items)
    picked = sorted(rng.sample(range(len(items)), n))
    return [items[i] for i in picked]


def _from_files(source: str, paths: list[str], quota: int, seed: int, prefer_non_ascii=False):
    seen = set()
    lines: list[Line] = []
    for p in sorted(paths):
        real = os.path.realpath(p)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        rel = os.path.relpath(p, REPO) if p.startswith(REPO) else p
        lines += _file_lines(p, rel)
    rng = _rng(seed, source)
    if prefer_non_ascii:
        wide = [ln for ln in lines if not ln.text.isascii()]
        narrow = [ln for ln in lines if ln.text.isascii()]
        wide = _sample(rng, wide, quota // 2)
        lines = wide + _sample(rng, narrow, quota - len(wide))
    else:
        lines = _sample(rng, lines, quota)
    for ln in lines:
        ln.source = source
    return lines


def _licenses(seed, quota):
    return _from_files("licenses", glob.glob("/usr/share/common-licenses/*"), quota, seed)


def _python_stdlib(seed, quota):
    root = sysconfig.get_paths()["stdlib"]
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in ("site-packages", "dist-packages", "__pycache__") and not d.startswith("config-")
        )
        paths += [os.path.join(dirpath, f) for f in filenames if f.endswith(".py")]
    return _from_files("python-stdlib", paths, quota, seed, prefer_non_ascii=True)


def _repo_docs(seed, quota):
    paths = glob.glob(os.path.join(REPO, "*.md")) + glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True)
    paths += glob.glob(os.path.join(REPO, "bench", "*.md"))
    return _from_files("repo-docs", paths, quota, seed)


def _shared_seed(shared, seed, quota):
    paths = glob.glob(os.path.join(shared, "seed", "*.txt")) + glob.glob(os.path.join(shared, "seed", "*.md"))
    return _from_files("shared-seed", paths, quota, seed)


def _vectors(shared, seed, quota):
    lines = []
    for p in sorted(glob.glob(os.path.join(shared, "data", "tokenizer-vectors", "*.inp"))):
        text = _read_text(p)
        if text is None:
            continue
        for k, case in enumerate(text.split(VECTOR_SEPARATOR)[:-1]):
            for j, part in enumerate(case.split("\n")):
                part = part.rstrip("\r")
                if part:
                    lines.append(Line("vectors", f"{os.path.basename(p)}#{k}.{j}", part))
    return _sample(_rng(seed, "vectors"), lines, quota)


def _mo_strings(path: str) -> list[str]:
    """The translated strings of a GNU gettext .mo catalog (UTF-8 ones only)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    if len(data) < 28:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        end = "<"
    elif magic == 0xDE120495:
        end = ">"
    else:
        return []
    _, count, _, trans_off = struct.unpack(end + "4I", data[4:20])
    out = []
    utf8 = False
    for i in range(count):
        at = trans_off + 8 * i
        if at + 8 > len(data):
            break
        length, off = struct.unpack(end + "2I", data[at:at + 8])
        raw = data[off:off + length]
        if i == 0 and b"charset=" in raw:  # the header entry (empty msgid) comes first
            utf8 = b"charset=utf-8" in raw.lower() or b"charset=ascii" in raw.lower()
            continue
        if not utf8:
            return []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for form in text.split("\0"):
            out += [s.rstrip("\r") for s in form.split("\n") if s.strip()]
    return out


def _translations(seed, quota):
    """Round robin over languages; per language at most 2 catalogs, picked by the seed (bounded time)."""
    rng = _rng(seed, "translations")
    files: dict[str, list[str]] = {}
    for p in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        files.setdefault(p.split("/")[4], []).append(p)
    pools = []
    for lang in sorted(files):
        items = []
        for p in _sample(rng, files[lang], 2):
            domain = os.path.basename(p)[:-3]
            items += [Line("translations", f"{lang}/{domain}.mo#{k}", s) for k, s in enumerate(_mo_strings(p))]
        pools.append(_sample(rng, items, quota))
        rng.shuffle(pools[-1])
    out = []
    depth = 0
    while len(out) < quota and any(depth < len(p) for p in pools):
        for p in pools:
            if depth < len(p) and len(out) < quota:
                out.append(p[depth])
        depth += 1
    return out


def _cldr(seed, quota):
    import datetime

    import babel
    import babel.dates
    import babel.localedata
    import babel.numbers

    rng = _rng(seed, "cldr")
    ids = sorted(babel.localedata.locale_identifiers())
    chosen = _sample(rng, ids, 150)
    per_locale = max(1, quota // len(chosen) + 1)
    when = datetime.datetime(2024, 3, 9, 17, 45, 30)
    out = []
    for ident in chosen:
        try:
            loc = babel.Locale.parse(ident)
            items = list(loc.languages.values()) + list(loc.territories.values())
            items += list(loc.months["format"]["wide"].values()) + list(loc.days["format"]["wide"].values())
            items += list(loc.currencies.values())
            items.append(loc.display_name or "")
            items.append(babel.dates.format_datetime(when, "full", locale=loc))
            items.append(babel.numbers.format_decimal(rng.uniform(-1e7, 1e7), locale=loc))
            items.append(babel.numbers.format_percent(rng.random(), locale=loc))
        except Exception:  # a locale whose data lacks something: skip it
            continue
        items = [s for s in items if isinstance(s, str) and s and "\n" not in s]
        if not items:
            continue
        for k in range(per_locale):
            words = [rng.choice(items) for _ in range(rng.randint(1, 8))]
            sep = rng.choice([" ", ", ", " · ", "; ", " - "])
            out.append(Line("cldr", f"{ident}#{k}", sep.join(words).rstrip("\r")))
    return out[:quota]


# --------------------------------------------------------------------------
# Random text


RANGES = [  # (weight, first, last): code point blocks for "script" fragments
    (3, 0x00C0, 0x00FF), (2, 0x0100, 0x017F), (1, 0x0180, 0x024F), (2, 0x0391, 0x03C9),
    (3, 0x0410, 0x044F), (1, 0x0531, 0x0586), (2, 0x05D0, 0x05EA), (3, 0x0621, 0x064A),
    (2, 0x0904, 0x0939), (1, 0x0985, 0x09B9), (1, 0x0B85, 0x0BB9), (2, 0x0E01, 0x0E30),
    (1, 0x10D0, 0x10FA), (1, 0x1200, 0x137C), (3, 0x3041, 0x3096), (3, 0x30A1, 0x30FA),
    (6, 0x4E00, 0x9FFF), (3, 0xAC00, 0xD7A3), (1, 0x20000, 0x2A6DF), (1, 0x1D400, 0x1D7FF),
    (1, 0x2600, 0x26FF), (1, 0x2190, 0x22FF), (3, 0x1F300, 0x1F64F), (2, 0x1F680, 0x1F6FF),
    (2, 0x1F900, 0x1F9FF), (1, 0xE000, 0xF8FF), (1, 0xFF01, 0xFF5E), (1, 0x1E00, 0x1EFF),
]
COMBINING = [(0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05BD), (0x064B, 0x065F), (0x0900, 0x0903),
             (0x093A, 0x094F), (0x0E31, 0x0E3A), (0x1AB0, 0x1ABE), (0x20D0, 0x20F0), (0xFE20, 0xFE2F)]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "০১২৩৪৫৬৭৮৯", "๐๑๒๓๔๕๖๗๘๙",
          "０１２３４５６７８９", "²³¹¼½¾⁰⁴⁵", "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ", "①②③④⑤⑥⑦⑧⑨⑩", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗"]
PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»“”‘’‚„—–…¡¿·•§¶†‡※、。，！？；：「」『』【】《》〈〉・"
SPACES = [" "] * 12 + ["\t"] * 4 + ["\u00a0", "\u3000", "\u2009", "\u200b", "\x0b", "\x0c", "\x85", "\u2028",
                                    "\u2029", "\r", "\u1680", "\u202f", "\ufeff"]
WORDS = ("the of and to in is was it for on that with as I he be at by this had not are but from or have an "
         "they which one you were all we her she there would their will when who him been has more if no out "
         "so said what up its about than into them can only other new some could time these two may then do "
         "first any my now such like our over man me even most made after also did many before must through "
         "Hello World GGUF Llama Mistral tokenizer über naïve café résumé Ærø straße Москва 東京 서울 "
         "don't I'm you're we've they'll she'd it's DON'T I'M YOU'RE WE'VE THEY'LL SHE'D IT'S We'Ve o'clock "
         "rock'n'roll 'quoted' 'S 's 'T 'RE 'Ve 'm 'LL 'd x86_64 C++20 std::vector<int> 3.14159 1,000,000 "
         "http://example.com/a?b=c&d=e user@example.org #hashtag @mention $100 50% 2024-03-09T17:45:30Z").split(" ")
SPECIAL_LOOKALIKES = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                      "<|reserved_special_token_5|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<pad>",
                      "[INST]", "[/INST]", "<0x41>", "▁", "▁▁hello", "<|im_start|>", "<|im_end|>"]
EMOJI_SEQUENCES = ["👨\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈", "👍🏽", "👋🏿", "🇫🇷", "🇯🇵🇺🇸", "1\ufe0f\u20e3",
                   "#\ufe0f\u20e3", "❤\ufe0f", "☺\ufe0e", "🧑\u200d💻", "🦙", "🤖"]


def _rand_char(rng: random.Random) -> str:
    while True:
        cp = rng.randint(0x20, 0x10FFFF) if rng.random() < 0.8 else rng.randint(0x20, 0xFFFF)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def _fragment(rng: random.Random) -> str:
    kind = rng.choices(
        ["word", "space", "script", "digits", "punct", "combining", "emoji", "any", "control", "run",
         "ascii", "special", "words"],
        weights=[20, 14, 16, 8, 8, 5, 4, 3, 2, 2, 6, 1, 8])[0]
    if kind == "word":
        w = rng.choice(WORDS)
        return rng.choice([w, w, w.capitalize(), w.upper()])
    if kind == "words":
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    if kind == "space":
        n = rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 8, 13])
        if rng.random() < 0.6:
            return " " * n
        return "".join(rng.choice(SPACES) for _ in range(n))
    if kind == "script":
        _, lo, hi = rng.choices(RANGES, weights=[r[0] for r in RANGES])[0]
        return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 10)))
    if kind == "digits":
        ds = rng.choice(DIGITS) if rng.random() < 0.4 else DIGITS[0]
        return "".join(rng.choice(ds) for _ in range(rng.choice([1, 2, 3, 4, 5, 6, 7, 9, 12, 16])))
    if kind == "punct":
        return "".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 6)))
    if kind == "combining":
        base = rng.choice("aeiouAEIOUnNcCsSzZ" + "абвгдαβγאבגابت" + "कखगกขค")
        marks = "".join(chr(rng.randint(*rng.choice(COMBINING))) for _ in range(rng.randint(1, 4)))
        return base + marks
    if kind == "emoji":
        return "".join(rng.choice(EMOJI_SEQUENCES) for _ in range(rng.randint(1, 3)))
    if kind == "any":
        return "".join(_rand_char(rng) for _ in range(rng.randint(1, 6)))
    if kind == "control":
        return "".join(chr(rng.choice([c for c in range(32) if c != 10] + [127])) for _ in range(rng.randint(1, 3)))
    if kind == "run":
        c = rng.choice(["a", " ", "!", "0", "7", "我", "é", "🙂", "-", "=", "\t", ".", "ab", "x "])
        return c * rng.randint(10, 300)
    if kind == "ascii":
        return "".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(1, 12)))
    return rng.choice(SPECIAL_LOOKALIKES)


def _random_lines(seed: int, n: int) -> list[Line]:
    rng = _rng(seed, "random")
    out = [Line("random", "empty", "")] if n > 0 else []
    while len(out) < n:
        k = len(out)
        frags = [_fragment(rng) for _ in range(rng.choice([1, 2, 3, 4, 6, 8, 12, 20, 40]))]
        if rng.random() < 0.3:  # words joined by single spaces, like prose
            frags = [f.strip() or f for f in frags]
            text = " ".join(frags)
        else:
            text = "".join(frags)
        text = text.replace("\n", " ").rstrip("\r")
        out.append(Line("random", f"random#{k}", text))
    return out


def build_corpus(args) -> Corpus:
    corpus = Corpus()
    scale = args.real / sum(REAL_QUOTAS.values())
    quota = {k: max(1, round(v * scale)) for k, v in REAL_QUOTAS.items()} if args.real > 0 else {}
    makers = {
        "licenses": lambda q: _licenses(args.seed, q),
        "python-stdlib": lambda q: _python_stdlib(args.seed, q),
        "repo-docs": lambda q: _repo_docs(args.seed, q),
        "shared-seed": lambda q: _shared_seed(args.shared, args.seed, q),
        "vectors": lambda q: _vectors(args.shared, args.seed, q),
        "translations": lambda q: _translations(args.seed, q),
        "cldr": lambda q: _cldr(args.seed, q),
    }
    lines: list[Line] = []
    for name, make in makers.items():
        if name not in quota:
            continue
        got = make(quota[name])
        if not got:
            corpus.absent[name] = "no files found" if name != "cldr" else "babel gave no data"
        lines += got
    lines += _random_lines(args.seed, args.random)
    seen = set()
    for ln in lines:
        if "\n" in ln.text or ln.text.endswith("\r"):
            raise AssertionError(f"corpus line {ln.origin} has a newline")
        if ln.text in seen:
            continue
        seen.add(ln.text)
        corpus.lines.append(ln)
    return corpus


# --------------------------------------------------------------------------
# Peers


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TiktokenPeer:
    kind = "tiktoken"
    convert_flag = "--tiktoken"

    def __init__(self, path: str):
        import tiktoken

        ranks = {}
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    token, rank = raw.split()
                    ranks[base64.b64decode(token, validate=True)] = int(rank)
                except ValueError as e:
                    raise SetupError(f"{path}:{n}: not a tiktoken ranks line ({e})") from None
        self.path = path
        self.size = len(ranks)
        self.by_id = {r: t for t, r in ranks.items()}
        self.enc = tiktoken.Encoding(name=os.path.basename(path), pat_str=LLAMA3_PATTERN,
                                     mergeable_ranks=ranks, special_tokens={})
        self.version = importlib.metadata.version("tiktoken")
        self.describe = f"tiktoken {self.version}, {self.size} ranks, Llama 3 pre-tokenizer regex, no special tokens"

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [self.enc.encode_ordinary(t) for t in texts]

    def token_text(self, i: int) -> str:
        b = self.by_id.get(i)
        return f"<id {i} not in the ranks>" if b is None else repr(b.decode("utf-8", "backslashreplace"))

    def prefix_chars(self, ids: list[int]) -> int:
        return len(b"".join(self.by_id.get(i, b"") for i in ids).decode("utf-8", "replace"))

    def self_check(self, shared: str) -> dict | None:
        """Reproduce llama.cpp's llama-bpe reference vectors (Llama 3 vocabulary only)."""
        base = os.path.join(shared, "data", "tokenizer-vectors", "ggml-vocab-llama-bpe.gguf")
        if self.size != 128000 or not (os.path.isfile(base + ".inp") and os.path.isfile(base + ".out")):
            return None
        inputs = _read_text(base + ".inp").split(VECTOR_SEPARATOR)[:-1]
        expected = _read_text(base + ".out").split("\n")
        bad = [k for k, s in enumerate(inputs) if self.enc.encode_ordinary(s) != [int(x) for x in expected[k].split()]]
        return {"vectors": os.path.basename(base) + ".{inp,out}", "cases": len(inputs), "mismatches": len(bad),
                "first_bad": bad[:5]}


class SentencePiecePeer:
    kind = "sentencepiece"
    convert_flag = "--sentencepiece"

    def __init__(self, path: str):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor()
        try:
            self.sp.Load(path)
        except Exception as e:
            raise SetupError(f"sentencepiece cannot load {path}: {e}") from None
        self.path = path
        self.size = self.sp.vocab_size()
        self.version = importlib.metadata.version("sentencepiece")
        self.describe = f"sentencepiece {self.version}, {self.size} pieces, encode without BOS/EOS"

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts, add_bos=False, add_eos=False, num_threads=1)

    def token_text(self, i: int) -> str:
        return repr(self.sp.id_to_piece(i)) if 0 <= i < self.size else f"<id {i} not in the model>"

    def prefix_chars(self, ids: list[int]) -> int:
        return len(self.sp.decode([i for i in ids if 0 <= i < self.size]))

    def self_check(self, shared: str) -> dict | None:
        return None


# --------------------------------------------------------------------------
# logitkit


def check_binary(path: str | None) -> str:
    if not path:
        raise SetupError("no logitkit binary given (pass its path, e.g. build/release/logitkit, or --peer-only)")
    if not os.path.exists(path):
        raise SetupError(f"logitkit binary not found: {path} (build it: cmake --build --preset release --target logitkit)")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise SetupError(f"logitkit binary is not an executable file: {path}")
    return os.path.abspath(path)


def run_cli(cmd: list[str], stdin: bytes | None, timeout: float, what: str) -> bytes:
    try:
        p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what} took more than {timeout:g} s: {' '.join(cmd)}") from None
    except OSError as e:
        raise SetupError(f"{what} could not start: {' '.join(cmd)}: {e}") from None
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise SetupError(f"{what} failed (exit status {p.returncode}): {' '.join(cmd)}\n{err}")
    return p.stdout


def parse_ids(out: bytes, n: int, cmd: list[str]) -> list[list[int]]:
    text = out.decode("utf-8", "replace")
    rows = text.split("\n")
    if rows and rows[-1] == "":
        rows.pop()
    if len(rows) != n:
        raise SetupError(f"{' '.join(cmd)} printed {len(rows)} lines for {n} input lines")
    result = []
    for k, row in enumerate(rows):
        try:
            result.append([int(x) for x in row.split()])
        except ValueError:
            raise SetupError(f"{' '.join(cmd)}: output line {k + 1} is not space-separated ids: {row[:200]!r}") from None
    return result


# --------------------------------------------------------------------------
# Comparison


def first_difference(a: list[int], b: list[int]) -> int:
    k = 0
    while k < len(a) and k < len(b) and a[k] == b[k]:
        k += 1
    return k


def describe_diff(peer, ln: Line, index: int, expected: list[int], got: list[int]) -> dict:
    k = first_difference(expected, got)
    lo = max(0, k - 3)
    at = peer.prefix_chars(expected[:k])
    return {
        "line": index + 1,
        "source": ln.source,
        "origin": ln.origin,
        "text": ln.text,
        "first_diff_token": k,
        "first_diff_char": at,
        "expected": expected,
        "got": got,
        "expected_context": [[i, peer.token_text(i)] for i in expected[lo:k + 4]],
        "got_context": [[i, peer.token_text(i)] for i in got[lo:k + 4]],
    }


def compare_vocab(args, corpus: Corpus, peer, binary: str | None, workdir: str) -> dict:
    texts = [ln.text for ln in corpus.lines]
    t0 = time.perf_counter()
    expected = peer.encode(texts)
    peer_s = time.perf_counter() - t0
    report = {
        "file": peer.path,
        "sha256": sha256_file(peer.path),
        "peer": peer.describe,
        "lines": len(texts),
        "tokens": sum(map(len, expected)),
        "bytes": sum(len(t.encode()) for t in texts) + len(texts),
        "peer_seconds": round(peer_s, 3),
    }
    check = peer.self_check(args.shared)
    if check is not None:
        report["peer_self_check"] = check
        if check["mismatches"]:
            raise SetupError(f"the peer for {peer.path} does not reproduce {check['vectors']} "
                             f"({check['mismatches']} of {check['cases']} differ): wrong file or regex?")
    if binary is None:
        return report

    out_gguf = os.path.join(workdir, os.path.splitext(os.path.basename(peer.path))[0] + ".gguf")
    cmd = [binary, "vocab", "convert", peer.convert_flag, peer.path, "--out", out_gguf]
    t0 = time.perf_counter()
    run_cli(cmd, None, args.timeout, "logitkit vocab convert")
    report["convert_seconds"] = round(time.perf_counter() - t0, 3)
    if not os.path.isfile(out_gguf):
        raise SetupError(f"{' '.join(cmd)} succeeded but wrote no {out_gguf}")
    report["gguf"] = out_gguf
    report["gguf_bytes"] = os.path.getsize(out_gguf)

    cmd = [binary, "tokenize", "--vocab", out_gguf, "--lines", "--no-bos"]
    stdin = "".join(t + "\n" for t in texts).encode("utf-8")
    t0 = time.perf_counter()
    out = run_cli(cmd, stdin, args.timeout, "logitkit tokenize")
    report["tokenize_seconds"] = round(time.perf_counter() - t0, 3)
    got = parse_ids(out, len(texts), cmd)

    by_source: dict[str, dict] = {}
    diffs = []
    mismatches = 0
    for k, (ln, e, g) in enumerate(zip(corpus.lines, expected, got)):
        s = by_source.setdefault(ln.source, {"lines": 0, "mismatches": 0})
        s["lines"] += 1
        if e != g:
            s["mismatches"] += 1
            mismatches += 1
            if len(diffs) < args.max_diffs:
                diffs.append(describe_diff(peer, ln, k, e, g))
    report["mismatches"] = mismatches
    report["by_source"] = by_source
    report["diffs"] = diffs
    return report


def default_vocabs(all_vocabs: bool) -> tuple[list[str], list[str]]:
    d = os.path.join(os.environ.get("LOGITKIT_CACHE") or os.path.expanduser("~/.cache/logitkit"), "vocab")
    tk = [os.path.join(d, "llama3-tokenizer.model")]
    sp = [os.path.join(d, "mistral-v1-tokenizer.model")]
    if all_vocabs:
        sp.append(os.path.join(d, "mistral-v3-tokenizer.model"))
    missing = [p for p in tk + sp if not os.path.isfile(p)]
    if missing:
        raise SetupError(f"missing {', '.join(missing)} (run scripts/fetch-vocabs, or pass --tiktoken/--sentencepiece)")
    return tk, sp


def clip(s: str, center: int, width: int = 120) -> str:
    lo = max(0, center - width // 2)
    piece = s[lo:lo + width]
    return ("…" if lo > 0 else "") + repr(piece) + ("…" if lo + width < len(s) else "")


def print_text(result: dict) -> None:
    c = result["corpus"]
    print(f"compare_peers: corpus of {c['lines']} lines (seed {result['seed']}): "
          + ", ".join(f"{k} {v}" for k, v in c["by_source"].items()))
    for k, why in c["absent"].items():
        print(f"  (source {k} is empty here: {why})")
    for v in result["vocabs"]:
        print(f"\n{os.path.basename(v['file'])} (sha256 {v['sha256'][:16]}…): {v['peer']}")
        chk = v.get("peer_self_check")
        if chk:
            print(f"  peer self-check: {chk['cases'] - chk['mismatches']}/{chk['cases']} of llama.cpp's "
                  f"{chk['vectors']} reproduced")
        print(f"  peer: {v['lines']} lines, {v['bytes']} bytes, {v['tokens']} tokens in {v['peer_seconds']} s")
        if "mismatches" not in v:
            continue
        print(f"  logitkit: convert {v['convert_seconds']} s ({v['gguf_bytes']} bytes), "
              f"tokenize {v['tokenize_seconds']} s")
        width = max(len(s) for s in v["by_source"]) if v["by_source"] else 6
        for s, n in v["by_source"].items():
            print(f"    {s:<{width}}  {n['lines']:>6} lines  {n['mismatches']:>5} mismatches")
        verdict = "OK" if v["mismatches"] == 0 else "MISMATCH"
        print(f"  total: {v['lines']} lines, {v['mismatches']} mismatches: {verdict}")
        for d in v["diffs"]:
            print(f"  - line {d['line']} ({d['source']}: {d['origin']}), first difference at token "
                  f"{d['first_diff_token']}, character {d['first_diff_char']}:")
            print(f"      text:     {clip(d['text'], d['first_diff_char'])}")
            print(f"      peer:     {' '.join(f'{i}:{t}' for i, t in d['expected_context'])}")
            print(f"      logitkit: {' '.join(f'{i}:{t}' for i, t in d['got_context'])}")
            print(f"      ({len(d['expected'])} vs {len(d['got'])} tokens)")
    print()
    print("compare_peers: " + ("all lines match" if result["ok"] else "MISMATCHES found")
          + ("" if result["logitkit"] else " (peer-only: logitkit not run)"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:]))
    ap.add_argument("logitkit", nargs="?", help="path to the logitkit binary (e.g. build/release/logitkit)")
    ap.add_argument("--tiktoken", action="append", default=[], metavar="FILE", help="Llama 3 style BPE ranks file")
    ap.add_argument("--sentencepiece", action="append", default=[], metavar="FILE", help="SentencePiece .model file")
    ap.add_argument("--all-vocabs", action="store_true", help="defaults include mistral-v3-tokenizer.model too")
    ap.add_argument("--peer-only", action="store_true", help="do not run logitkit: check the corpus and peers")
    ap.add_argument("--real", type=int, default=4000, help="real-text lines at most (default 4000)")
    ap.add_argument("--random", type=int, default=2000, help="random lines (default 2000)")
    ap.add_argument("--seed", type=int, default=20240601, help="corpus seed (default 20240601)")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(REPO), "shared"),
                    help="the shared folder (default: ../shared beside the repository)")
    ap.add_argument("--workdir", help="keep the converted GGUF files here (default: a temporary folder)")
    ap.add_argument("--max-diffs", type=int, default=5, help="mismatches shown per vocabulary (default 5)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed per logitkit command")
    ap.add_argument("--dump-corpus", metavar="FILE", help="write the corpus as JSON lines (source, origin, text)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args(argv)
    for stream in (sys.stdout, sys.stderr):  # never die on a terminal that cannot show a character
        stream.reconfigure(errors="backslashreplace")

    missing = [m for m in ("tiktoken", "sentencepiece", "babel") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"compare_peers: error: {sys.executable} lacks {', '.join(missing)}: run this script with the "
              "venv's python, $(scripts/python-env --print-python)", file=sys.stderr)
        return 2
    try:
        binary = None if args.peer_only else check_binary(args.logitkit)
        if args.tiktoken or args.sentencepiece:
            tk, sp = args.tiktoken, args.sentencepiece
        else:
            tk, sp = default_vocabs(args.all_vocabs)
        for p in tk + sp:
            if not os.path.isfile(p):
                raise SetupError(f"tokenizer file not found: {p}")
        peers = [TiktokenPeer(p) for p in tk] + [SentencePiecePeer(p) for p in sp]

        t0 = time.perf_counter()
        corpus = build_corpus(args)
        corpus_s = time.perf_counter() - t0
        if args.dump_corpus:
            with open(args.dump_corpus, "w", encoding="utf-8") as f:
                for ln in corpus.lines:
                    f.write(json.dumps({"source": ln.source, "origin": ln.origin, "text": ln.text},
                                       ensure_ascii=False) + "\n")
        by_source: dict[str, int] = {}
        for ln in corpus.lines:
            by_source[ln.source] = by_source.get(ln.source, 0) + 1

        with tempfile.TemporaryDirectory(prefix="logitkit-peers-") as tmp:
            workdir = args.workdir or tmp
            os.makedirs(workdir, exist_ok=True)
            vocabs = [compare_vocab(args, corpus, peer, binary, workdir) for peer in peers]
    except SetupError as e:
        if args.json:
            print(json.dumps({"ok": False, "error": str(e)}))
        print(f"compare_peers: error: {e}", file=sys.stderr)
        return 2

    ok = all(v.get("mismatches", 0) == 0 for v in vocabs)
    result = {
        "ok": ok,
        "logitkit": binary,
        "seed": args.seed,
        "corpus": {"lines": len(corpus.lines), "by_source": by_source, "absent": corpus.absent,
                   "seconds": round(corpus_s, 3),
                   "non_ascii_lines": sum(not ln.text.isascii() for ln in corpus.lines),
                   "scripts": _script_census(corpus)},
        "vocabs": vocabs,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print_text(result)
    return 0 if ok else 1


def _script_census(corpus: Corpus) -> dict[str, int]:
    """Characters per rough script (first word of the Unicode name), the 20 most frequent non-Latin ones."""
    counts: dict[str, int] = {}
    for ln in corpus.lines:
        for ch in set(ln.text):
            if ch.isascii():
                continue
            name = unicodedata.name(ch, "")
            key = name.split(" ")[0] if name else f"unnamed/{unicodedata.category(ch)}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20])


if __name__ == "__main__":
    sys.exit(main())
