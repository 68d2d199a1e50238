"""Fitting an SMS page into one segment, and what to do with non-GSM text.

An SMS of up to 160 GSM-7 characters goes out as one segment; anything else costs more segments
(153 characters each once concatenated), and a single non-GSM character (Cyrillic, CJK, emoji,
typographic quotes) switches the whole message to UCS-2, where one segment holds only 70.

**The choice slawatch makes** (deliberate, tested):

1. Transliterate to GSM-7 first. Typographic punctuation becomes ASCII, accents not in GSM-7 are
   dropped (``ć`` -> ``c``; ``é``, ``ü``, ``ñ`` stay, they are GSM-7), Cyrillic and Greek are
   spelled in Latin letters (Bulgarian streamlined system: ``Щ`` -> ``Sht``, ``Ж`` -> ``Zh``), and
   emoji and other symbols are dropped. A page then fits 160 characters and reads on every
   handset.
2. If that would lose the text (more than a quarter of its non-GSM letters have no
   transliteration, as with Chinese or Arabic), keep the original and accept UCS-2, counting 70
   per segment. The choice is made once on the full message, before any cutting.

Then the message is fitted to one segment by cutting the **title** (with ``...``), then the
account name, and never the incident id, the priority or the deadline, which the templates place
outside those fields. If even an empty title does not fit, the full text is sent in several
segments: cutting would lose information without saving anything.
"""

# ruff: noqa: RUF001  (the transliteration tables hold Cyrillic and Greek letters on purpose)
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM7_BASIC)
_EXTENDED = frozenset(GSM7_EXTENDED)
#: Every GSM-7 character (basic and extension): ``issuperset`` runs the check in C, which a
#: page's fitting (several encodings of the whole text) calls for every message sent.
_GSM7 = _BASIC | _EXTENDED

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
ELLIPSIS = "..."

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sht",
    "ъ": "a", "ь": "y", "ю": "yu", "я": "ya", "ё": "yo", "ы": "y", "э": "e", "і": "i",
    "ї": "yi", "є": "ye", "ґ": "g", "ј": "j", "љ": "lj", "њ": "nj", "ћ": "c", "ђ": "dj",
    "џ": "dz", "ѓ": "gj", "ќ": "kj", "ѕ": "dz",
}  # fmt: skip
_GREEK = {
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th",
    "ι": "i", "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r",
    "σ": "s", "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
}  # fmt: skip
_PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\t": " ", "\u2022": "*",
    "\u00b7": ".", "\u2192": "->", "\u00d7": "x", "`": "'", "\u00b4": "'", "\u2122": "TM",
    "\u00a9": "(c)", "\u00ae": "(R)", "\u00b0": " deg",
}  # fmt: skip


def _cased(table: Mapping[str, str]) -> dict[str, str]:
    result = dict(table)
    for key, value in table.items():
        upper = key.upper()
        if upper != key and upper not in result:
            result[upper] = value[:1].upper() + value[1:]
    return result


_TRANSLIT = {**_cased(_CYRILLIC), **_cased(_GREEK), **_PUNCTUATION}
# Greek capitals that exist in GSM-7 would pass as-is, but mixed with transliterated lowercase they
# read badly; spell every Greek letter in Latin for one consistent script.
for _upper in "ΔΦΓΛΩΠΨΣΘΞ":
    _TRANSLIT[_upper] = _cased(_GREEK)[_upper]


def is_gsm7(text: str) -> bool:
    """True when every character is in the GSM-7 basic or extension table."""
    return _GSM7.issuperset(text)


def gsm7_length(text: str) -> int:
    """Septets ``text`` needs in GSM-7: extension characters (``€ [ ] { } ^ ~ | \\``) count 2."""
    return len(text) + sum(text.count(ch) for ch in GSM7_EXTENDED)


def ucs2_length(text: str) -> int:
    """UTF-16 code units: characters outside the BMP (most emoji) count 2."""
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS segments ``text`` needs as sent (GSM-7 if it can, else UCS-2)."""
    if is_gsm7(text):
        length, single, multi = gsm7_length(text), GSM7_SINGLE, GSM7_MULTI
    else:
        length, single, multi = ucs2_length(text), UCS2_SINGLE, UCS2_MULTI
    if length <= single:
        return 1
    return -(-length // multi)


def transliterate(text: str) -> tuple[str, int]:
    """``text`` spelled in GSM-7, and how many letters had no transliteration (became ``?``)."""
    out: list[str] = []
    lost = 0
    for ch in text:
        if ch in _TRANSLIT:  # first: Greek capitals exist in GSM-7 but read better spelled
            out.append(_TRANSLIT[ch])
            continue
        if ch in _BASIC or ch in _EXTENDED:
            out.append(ch)
            continue
        decomposed = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        if base and all(c in _TRANSLIT or c in _BASIC or c in _EXTENDED for c in base):
            out.append("".join(_TRANSLIT.get(c, c) for c in base))
            continue
        category = unicodedata.category(ch)
        if category.startswith("L") or category.startswith("N"):
            out.append("?")
            lost += 1
        elif category.startswith("Z"):
            out.append(" ")
        # symbols (emoji), marks, controls and format characters (ZWJ, variation selectors)
        # carry no words: drop them.
    return "".join(out), lost


@dataclass(frozen=True, slots=True)
class SmsText:
    """The text to send, its encoding (``gsm7`` or ``ucs2``), length in units and segments."""

    text: str
    encoding: str
    length: int
    segments: int


def encode_sms(text: str, *, policy: str | None = None) -> SmsText:
    """Apply the transliteration policy of this module to a whole message.

    ``policy`` forces the choice made for the full message (``"gsm7"``: transliterate,
    ``"ucs2"``: keep the original) so that cutting the title cannot flip it; text that is
    GSM-7 already is always sent as GSM-7.
    """
    cleaned = "\n".join(line.rstrip() for line in text.strip().splitlines())
    while "\n\n\n" in cleaned:
        cleaned = cleaned.replace("\n\n\n", "\n\n")
    if is_gsm7(cleaned):
        return SmsText(cleaned, "gsm7", gsm7_length(cleaned), segments(cleaned))
    if policy is None:
        policy = choose_policy(cleaned)
    if policy == "ucs2":
        return SmsText(cleaned, "ucs2", ucs2_length(cleaned), segments(cleaned))
    spelled, _ = transliterate(cleaned)
    spelled = " ".join(spelled.split(" ")).strip()
    return SmsText(spelled, "gsm7", gsm7_length(spelled), segments(spelled))


def choose_policy(text: str) -> str:
    """``gsm7`` (transliterate) unless more than a quarter of the non-GSM letters and digits
    have no transliteration, in which case ``ucs2`` keeps the text readable."""
    foreign = [
        ch
        for ch in text
        if ch not in _BASIC and ch not in _EXTENDED and unicodedata.category(ch)[0] in "LN"
    ]
    if not foreign:
        return "gsm7"
    _, lost = transliterate("".join(foreign))
    return "ucs2" if lost * 4 > len(foreign) else "gsm7"


def single_limit(encoding: str) -> int:
    return GSM7_SINGLE if encoding == "gsm7" else UCS2_SINGLE


# Fields cut, in order, to make a message fit: (context key, field).
CUT_ORDER: tuple[tuple[str, str], ...] = (("incident", "title"), ("account", "name"))


def _with_field(context: Mapping[str, Any], key: str, name: str, value: str) -> dict[str, Any]:
    updated = dict(context)
    inner = dict(context[key])
    inner[name] = value
    updated[key] = inner
    return updated


def _shortened(value: str, keep: int) -> str:
    if keep >= len(value):
        return value
    if keep <= 0:
        return ""
    return value[:keep].rstrip() + ELLIPSIS


def fit_sms(render: Callable[[Mapping[str, Any]], str], context: Mapping[str, Any]) -> SmsText:
    """Render with ``render(context)`` and cut :data:`CUT_ORDER` fields until one segment fits.

    ``render`` is called several times (a binary search over the kept title length); it must be
    a pure function of the context. Exceptions from ``render`` propagate to the caller.
    """
    full = encode_sms(render(context))
    if full.segments == 1:
        return full
    policy = full.encoding
    current: Mapping[str, Any] = context
    for key, name in CUT_ORDER:
        inner = current.get(key)
        if not isinstance(inner, Mapping) or not isinstance(inner.get(name), str):
            continue
        original: str = inner[name]
        emptied = encode_sms(render(_with_field(current, key, name, "")), policy=policy)
        if emptied.segments > 1:
            # Cutting this field alone cannot make it fit; cut it fully and try the next one.
            current = _with_field(current, key, name, "")
            continue
        lo, hi = 0, len(original)  # largest keep with one segment; keep=0 is known to fit
        best = emptied
        while lo < hi:
            mid = (lo + hi + 1) // 2
            candidate = encode_sms(
                render(_with_field(current, key, name, _shortened(original, mid)))
            )
            if candidate.segments == 1:
                lo, best = mid, candidate
            else:
                hi = mid - 1
        return best
    return full
