"""Split a survey comment into sentences with a few regular-expression rules (no model).

Survey comments are short, informal and often typed in lower case, so a sentence may start
with any letter; what needs care is the full stop that does not end a sentence: "e.g.",
"Mr.", "a.m.", "No. 5", initials, decimals, ellipses inside a thought, and emoticons.
"""

from __future__ import annotations

import re

# About a long paragraph; the encoder reads 128 tokens (~500 characters) at most.
MAX_SENTENCE_CHARS = 400
# Pieces with fewer letters or digits ("ok.", ":)", "!!") say nothing alone: they join a neighbour.
MIN_SENTENCE_CHARS = 3

# Abbreviations that never end a sentence in survey text: a name or a number follows them.
_NEVER_FINAL_WORDS = "e.g i.e eg ie mr mrs ms dr prof st jr sr mt vs cf approx ca fig ref tel ext"
# Abbreviations that may end a sentence: a boundary only when a capital letter follows.
_MAYBE_FINAL_WORDS = (
    "etc a.m p.m am pm inc ltd co corp dept min mins hr hrs sec secs wk wks mo mos yr yrs "
    "est u.s u.k e.u"
)
_NEVER_FINAL = frozenset(_NEVER_FINAL_WORDS.split())
_MAYBE_FINAL = frozenset(_MAYBE_FINAL_WORDS.split())

# A run of sentence-ending punctuation, closing quotes or brackets, then whitespace.
_END_MARK = re.compile(r"(?P<punct>\.{2,}|…|[!?][!?.]*|\.[!?]*)[\"'”’)\]]*\s+")
# ":)", ";-(", ":D", "=P", "<3", "xD", or a pictographic emoji, then whitespace.
_EMOTICON_END = re.compile(
    r"(?:(?<=\s)|^)(?:[:;=]-?[()\[\]DPpOo/\\|*]+|<3|[xX]D)\s+|[\U0001F300-\U0001FAFF]+\s+"
)
_BULLET = re.compile(r"^\s*(?:[-*•·–]+|\d{1,2}[.)]|[a-zA-Z][)])\s+")
_LAST_WORD = re.compile(r"(\S+)$")
_ALNUM = re.compile(r"\w")


def split_sentences(text: str) -> list[str]:
    """Return the sentences of a comment, stripped, in order; an empty comment has none."""
    pieces: list[str] = []
    for line in re.split(r"[\r\n]+", text):
        pieces.extend(_split_line(_BULLET.sub("", line)))
    sentences: list[str] = []
    for sentence in _merge_fragments(pieces):
        sentences.extend(_cap_length(sentence, MAX_SENTENCE_CHARS))
    return sentences


def _split_line(line: str) -> list[str]:
    cuts = sorted(
        {m.end() for m in _END_MARK.finditer(line) if _ends_sentence(line, m)}
        | {m.end() for m in _EMOTICON_END.finditer(line) if _starts_with_capital(line[m.end() :])}
    )
    bounds = [0, *cuts, len(line)]
    pieces = (line[start:end].strip() for start, end in zip(bounds, bounds[1:], strict=False))
    return [piece for piece in pieces if piece]


def _ends_sentence(line: str, mark: re.Match[str]) -> bool:
    punct = mark.group("punct")
    following = line[mark.end() :]
    if not following:
        return True
    if punct.startswith("..") or punct == "…":
        # "waited... and waited" goes on; "waited... Then nothing" starts anew.
        return _starts_with_capital(following)
    if punct != ".":
        return True
    found = _LAST_WORD.search(line[: mark.start()])
    word = found.group(1).lstrip("\"'“‘([").lower() if found else ""
    if word in _NEVER_FINAL:
        return False
    if word == "no":  # "order no. 5" goes on; "the answer was no. I left" ends.
        return not following[0].isdigit()
    if word in _MAYBE_FINAL or re.fullmatch(r"[a-z](?:\.[a-z])+", word):
        return _starts_with_capital(following)
    # A lone capital is an initial ("J. Smith"), not the end of a sentence.
    return not (len(word) == 1 and word.isalpha() and found and found.group(1)[-1].isupper())


def _starts_with_capital(text: str) -> bool:
    stripped = text.lstrip("\"'“‘( ")
    return bool(stripped) and stripped[0].isupper()


def _merge_fragments(pieces: list[str]) -> list[str]:
    merged: list[str] = []
    pending = ""  # tiny fragments met before any real sentence go to the next one
    for piece in pieces:
        if _is_fragment(piece):
            if merged:
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                pending = f"{pending} {piece}".strip()
        else:
            merged.append(f"{pending} {piece}".strip())
            pending = ""
    if pending:
        merged.append(pending)  # the whole comment was a fragment ("ok", ":)"): keep it
    return merged


def _is_fragment(piece: str) -> bool:
    return len(_ALNUM.findall(piece)) < MIN_SENTENCE_CHARS


# Run-on sentences are cut where a clause most likely ends, the first that works wins.
_CLAUSE_BREAKS = (
    re.compile(r"(?<=;)\s+"),
    re.compile(r"(?<=,)\s+(?=but\b)", re.IGNORECASE),
    re.compile(r"\s+(?=but\b)", re.IGNORECASE),
    re.compile(r"(?<=,)\s+(?=(?:and|so|because|although|though|which)\b)", re.IGNORECASE),
    re.compile(r"(?<=,)\s+"),
    re.compile(r"\s+"),
)


def _cap_length(sentence: str, limit: int, level: int = 0) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    if level == len(_CLAUSE_BREAKS):
        return [sentence[i : i + limit].strip() for i in range(0, len(sentence), limit)]
    clauses = [c for c in _CLAUSE_BREAKS[level].split(sentence) if c]
    capped: list[str] = []
    for clause in _pack(clauses, limit):
        capped.extend(_cap_length(clause, limit, level + 1))
    return capped


def _pack(clauses: list[str], limit: int) -> list[str]:
    """Join neighbouring clauses again while they fit, so cuts are as few as possible."""
    packed: list[str] = []
    for clause in clauses:
        if packed and len(packed[-1]) + 1 + len(clause) <= limit:
            packed[-1] = f"{packed[-1]} {clause}"
        else:
            packed.append(clause)
    return packed
