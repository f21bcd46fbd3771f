"""Inbound keyword matching: tolerant of case, accents, punctuation and trailing words ("Stop.",
"stop please", "STOP ALL", "Arrêt"), with common translations. The vocabularies are configurable
(OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS, CONFIRM_KEYWORDS, HELP_KEYWORDS: comma-separated words)."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "CANCEL", "QUIT", "ARRET", "ARRÊT", "BAJA",
              "STOPP", "ALTO", "PARAR", "CANCELAR", "ABMELDEN")
# YES is not here: it confirms a pending double opt-in and must not opt anyone in by itself.
START_WORDS = ("START", "UNSTOP", "SUBSCRIBE")
CONFIRM_WORDS = ("YES", "OUI", "SI", "JA")
HELP_WORDS = ("HELP", "INFO", "AIDE", "AYUDA", "HILFE")

STOP, START, CONFIRM, HELP = "STOP", "START", "YES", "HELP"

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _fold(word: str) -> str:
    # ARRÊT and ARRET are the same keyword to a person typing on a phone.
    return "".join(c for c in unicodedata.normalize("NFKD", word.upper()) if not unicodedata.combining(c))


def parse_vocabulary(value: str | Iterable[str]) -> tuple[str, ...]:
    """A configured vocabulary: "STOP, Arrêt,baja" (or a list of words) → ("STOP", "ARRET", "BAJA").

    A configured entry of two words ("STOP ALL") is kept as one keyword without the space."""
    words = value.split(",") if isinstance(value, str) else list(value)
    folded = ("".join(_WORD.findall(_fold(w))) for w in words)
    return tuple(dict.fromkeys(w for w in folded if w))


def match_keyword(text: str, *, stop_words: Iterable[str] = STOP_WORDS, start_words: Iterable[str] = START_WORDS,
                  help_words: Iterable[str] = HELP_WORDS, confirm_words: Iterable[str] = CONFIRM_WORDS) -> str | None:
    """'STOP', 'START', 'YES', 'HELP' or None.

    Only the opening of the message counts — its first word, or its first two words written
    together ("STOP ALL" = STOPALL, "un subscribe" = UNSUBSCRIBE) — so a chatty reply that merely
    mentions stop later ("don't stop sending") is not an opt-out. Opt-out wins over the others
    when a word is in two vocabularies."""
    words = [_fold(w) for w in _WORD.findall(text or "")]
    if not words:
        return None
    candidates = [words[0]] + (["".join(words[:2])] if len(words) > 1 else [])
    for keyword, vocabulary in ((STOP, stop_words), (START, start_words), (CONFIRM, confirm_words),
                                (HELP, help_words)):
        known = set(parse_vocabulary(vocabulary))
        if any(c in known for c in candidates):
            return keyword
    return None
