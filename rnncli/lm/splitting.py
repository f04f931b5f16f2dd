"""Sentence splitting: NLTK's Punkt (the installed punkt_tab model, or one trained on
the text and stored in checkpoints so scoring splits the same way; never downloads)
or one sentence per line; and cutting text of any size into bounded pieces.

NLTK runs every regular expression under a 5-second limit and Punkt scans a whole
text at once, so Punkt only ever sees pieces of at most WINDOW characters. A long
document is cut where Punkt itself finds a sentence boundary inside a window (its
decisions look one token ahead, so the sentences equal those of the uncut text);
a window without any boundary (a "sentence" of WINDOW characters) is cut at the
safest place in its second half: a line break after sentence punctuation, sentence
punctuation and whitespace, a line break, whitespace; never inside a word, except in
a run of WINDOW/2 characters without whitespace, which is no word."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Iterator

WINDOW = 1 << 16          # characters Punkt sees at once; also the longest sentence
UNIT = 1 << 19            # characters of a long document handed to a worker at once


def punkt_tab_available() -> bool:
    import nltk.data
    try:
        nltk.data.find("tokenizers/punkt_tab/english/")
        return True
    except (LookupError, OSError, ValueError):
        return False


def punkt_to_json(params) -> str:
    return json.dumps({
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted(list(c) for c in params.collocations),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    })


def punkt_json_problem(text: str) -> str | None:
    """What makes ``text`` unusable as stored Punkt parameters (untrusted input), or None."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return "its parameters are not valid JSON"
    if not isinstance(raw, dict):
        return "its parameters are not a JSON object"
    for k in ("abbrev_types", "sent_starters"):
        if not isinstance(raw.get(k), list) or not all(isinstance(x, str) for x in raw[k]):
            return f"{k} is not a list of strings"
    col = raw.get("collocations")
    if not isinstance(col, list) or not all(isinstance(c, list) and len(c) == 2 and all(isinstance(w, str) for w in c)
                                            for c in col):
        return "collocations is not a list of word pairs"
    oc = raw.get("ortho_context")
    if not isinstance(oc, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in oc.values()):
        return "ortho_context is not a map of words to integers"
    return None


def punkt_from_json(text: str):
    from nltk.tokenize.punkt import PunktParameters
    raw = json.loads(text)
    p = PunktParameters()
    p.abbrev_types = set(raw["abbrev_types"])
    p.collocations = {tuple(c) for c in raw["collocations"]}
    p.sent_starters = set(raw["sent_starters"])
    for k, v in raw["ortho_context"].items():
        p.ortho_context[k] = int(v)
    return p


_TOKEN_CLS = None


def fast_token_class():
    """nltk's PunktToken with its regular-expression properties memoised per token text
    (they depend on nothing else), and a plain constructor: the same annotations, about
    twice as fast for the trainer. Punkt accepts a token class for this purpose."""
    global _TOKEN_CLS
    if _TOKEN_CLS is not None:
        return _TOKEN_CLS
    from nltk.tokenize.punkt import PunktToken, _re_non_punct

    types: dict = {}
    matches: dict = {}
    MAX = 1 << 20   # memo entries before a memo starts afresh

    class FastPunktToken(PunktToken):
        __slots__ = ()

        def __init__(self, tok, parastart=None, linestart=None, **params):
            self.tok = tok
            t = types.get(tok)
            if t is None:
                if len(types) > MAX:
                    types.clear()
                t = types[tok] = PunktToken._get_type(self, tok)
            self.type = t
            self.period_final = tok.endswith(".")
            self.parastart, self.linestart = parastart, linestart
            self.sentbreak = self.abbr = self.ellipsis = None
            for k in params:
                setattr(self, k, params[k])

        def _memo(self, which, rx, text):
            key = (which, text)
            try:
                return matches[key]
            except KeyError:
                if len(matches) > MAX:
                    matches.clear()
                m = matches[key] = (rx.match(text) if which != "np" else rx.search(text))
                return m

        @property
        def is_ellipsis(self):
            return self._memo("el", self._RE_ELLIPSIS, self.tok)

        @property
        def is_initial(self):
            return self._memo("in", self._RE_INITIAL, self.tok)

        @property
        def is_alpha(self):
            return self._memo("al", self._RE_ALPHA, self.tok)

        @property
        def is_non_punct(self):
            return self._memo("np", _re_non_punct, self.type)

    _TOKEN_CLS = FastPunktToken
    return _TOKEN_CLS


@dataclass
class Splitter:
    """The sentence splitter and how it was obtained, so a checkpoint can rebuild it."""
    kind: str                 # "punkt_tab" (installed English model) or "trained"
    params_json: str | None   # the trained Punkt parameters
    tokenizer: object = None

    def describe(self) -> str:
        if self.kind == "punkt_tab":
            return "NLTK Punkt, installed English punkt_tab model"
        return "NLTK Punkt, trained unsupervised on the corpus (punkt_tab model not installed)"

    def signature(self) -> str:
        return self.kind + ":" + hashlib.sha256((self.params_json or "").encode()).hexdigest()


PUNKT_TRAIN_CHARS = 4_000_000  # Punkt's statistics settle long before this


def make_splitter(texts, stored: dict | None = None) -> Splitter:
    """The installed punkt_tab model if there is one; otherwise parameters stored in a
    checkpoint; otherwise Punkt trained on the text itself. Never downloads. ``texts``
    is a list of documents, or a callable returning the training text (the first
    PUNKT_TRAIN_CHARS of the documents joined by blank lines), read only if needed."""
    from nltk.tokenize.punkt import PunktTrainer
    if stored and stored.get("kind") == "trained" and stored.get("params_json"):
        params_json = stored["params_json"]
        return Splitter("trained", params_json, _sentence_tokenizer(punkt_from_json(params_json)))
    if punkt_tab_available():
        from nltk.tokenize.punkt import PunktTokenizer
        try:
            tok = PunktTokenizer("english")
            tok._Token = fast_token_class()
            return Splitter("punkt_tab", None, _memoised(tok))
        except (LookupError, OSError, ValueError):
            pass
    if callable(texts):
        text = texts()
    else:
        sample, size = [], 0
        for t in texts:
            sample.append(t[: PUNKT_TRAIN_CHARS - size])
            size += len(sample[-1])
            if size >= PUNKT_TRAIN_CHARS:
                break
        text = "\n\n".join(sample)
    trainer = PunktTrainer(token_cls=fast_token_class())
    trainer.train(text, finalize=True)
    params = trainer.get_params()
    return Splitter("trained", punkt_to_json(params), _sentence_tokenizer(params))


def _sentence_tokenizer(params):
    from nltk.tokenize.punkt import PunktSentenceTokenizer
    return _memoised(PunktSentenceTokenizer(params, token_cls=fast_token_class()))


def _memoised(tok):
    """Punkt decides each candidate boundary from its context string alone (the word
    before, the punctuation, the next word) and its fixed parameters: the same context
    gets the same answer, so answers are remembered."""
    decide = tok.text_contains_sentbreak
    seen: dict = {}

    def text_contains_sentbreak(context):
        r = seen.get(context)
        if r is None:
            if len(seen) > (1 << 20):
                seen.clear()
            r = seen[context] = decide(context)
        return r
    tok.text_contains_sentbreak = text_contains_sentbreak
    return tok


# ------------------------------------------------------------------ cutting


_PUNCT_NL = re.compile(r"[.?!][\"')\]}\u00bb\u201d\u2019]*[^\S\n]*\n")
_PUNCT_WS = re.compile(r"[.?!][\"')\]}\u00bb\u201d\u2019]*\s")


def _last_end(rx, text, lo, hi):
    m = None
    for m in rx.finditer(text, lo, hi):
        pass
    return m.end() if m else None


def safe_cut(text: str, lo: int, hi: int) -> int:
    """A position p, lo < p <= hi, to cut text[lo:hi] at, the latest of the first kind
    found: after a line break that follows sentence punctuation; after sentence
    punctuation and whitespace; after a line break; after whitespace; else hi."""
    for rx in (_PUNCT_NL, _PUNCT_WS):
        p = _last_end(rx, text, lo, hi)
        if p:
            return p
    k = text.rfind("\n", lo, hi)
    if k >= lo:
        return k + 1
    i = hi - 1
    while i >= lo and not text[i].isspace():
        i -= 1
    return i + 1 if i >= lo else hi


def _space_before(text: str, at: int, lo: int) -> int | None:
    """Index of the last whitespace character in text[lo:at], or None."""
    i = min(at, len(text)) - 1
    while i >= lo and not text[i].isspace():
        i -= 1
    return i if i >= lo else None


def sentence_spans(punkt, text: str, window: int = WINDOW) -> list[tuple[int, int]]:
    """Punkt's sentence spans of ``text`` of any length, Punkt seeing at most ``window``
    characters at a time (see the module docstring)."""
    out: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    while n - pos > window:
        half = pos + window // 2
        end = _space_before(text, pos + window, half)
        end = pos + window if end is None else end
        spans = list(punkt.span_tokenize(text[pos:end]))
        if len(spans) >= 2:
            out.extend((pos + s, pos + e) for s, e in spans[:-1])
            pos += spans[-1][0]
            continue
        cut = safe_cut(text, half, end)
        piece = text[pos:cut]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            out.append((pos + lead, pos + lead + len(body)))
        pos = cut
    out.extend((pos + s, pos + e) for s, e in punkt.span_tokenize(text[pos:]))
    return out


def capped_lines(text: str, cap: int = WINDOW) -> list[str]:
    """The non-blank lines of ``text``, stripped; a line longer than ``cap`` characters
    is cut like a window without a sentence boundary."""
    out = []
    for line in text.split("\n"):
        while len(line) > cap:
            cut = safe_cut(line, cap // 2, cap)
            head = line[:cut].strip()
            if head:
                out.append(head)
            line = line[cut:]
        line = line.strip()
        if line:
            out.append(line)
    return out


def punkt_cut(punkt, text: str, limit: int, lowercase: bool) -> int:
    """Where to cut a long document ``text`` (longer than ``limit``) so the first part
    ends at a sentence boundary Punkt finds near ``limit``; depends on text[:limit] only."""
    for size in (WINDOW // 8, WINDOW):
        lo = max(0, limit - size)
        end = _space_before(text, limit, lo + size // 2)
        if end is None:
            continue
        start = _space_before(text, lo + size // 4, lo)
        start = lo if start is None else start + 1
        win = text[start:end]
        if lowercase:
            low = win.lower()
            if len(low) != len(win):    # U+0130 lowercases to two characters: offsets would move
                break
            win = low
        spans = list(punkt.span_tokenize(win))
        if len(spans) >= 2:
            return start + spans[-1][0]
    return safe_cut(text, limit // 2, limit)


def line_cut(text: str, limit: int) -> int:
    """Where to cut text longer than ``limit`` for --sentences lines: after the last line
    break within it, else as safe_cut."""
    k = text.rfind("\n", limit // 2, limit)
    return k + 1 if k >= 0 else safe_cut(text, limit // 2, limit)


@dataclass
class Piece:
    """Text processed on its own: a whole document, or part of one cut by ``bounded_pieces``."""
    text: str
    source: int
    raw_pos: int


def bounded_pieces(fragments, cut, limit: int = UNIT) -> Iterator[Piece]:
    """Documents (from sources.Fragment items) as pieces of at most ``limit`` characters
    (unless ``cut`` finds no place); ``cut(text, limit)`` chooses each cut from
    text[:limit] alone, so the pieces do not depend on how the input was read."""
    buf, src, pos = "", 0, 0
    for fr in fragments:
        if fr.new_doc and buf:
            yield from _drain(buf, src, pos, cut, limit)
            buf = ""
        buf += fr.text
        src, pos = fr.source, fr.raw_pos
        while len(buf) > limit:
            c = cut(buf, limit)
            yield Piece(buf[:c], src, pos)
            buf = buf[c:]
    if buf:
        yield from _drain(buf, src, pos, cut, limit)


def _drain(buf, src, pos, cut, limit):
    while len(buf) > limit:
        c = cut(buf, limit)
        yield Piece(buf[:c], src, pos)
        buf = buf[c:]
    yield Piece(buf, src, pos)
