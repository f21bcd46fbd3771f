"""Inbound keyword matching: tolerant of case, punctuation and trailing words ("Stop.",
"stop please", "STOP ALL"), with common translations."""
from __future__ import annotations

import re
import unicodedata

STOP_WORDS = ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "CANCEL", "QUIT", "ARRET", "ARRÊT", "BAJA",
              "STOPP", "ALTO", "PARAR", "CANCELAR", "ABMELDEN")
START_WORDS = ("START", "UNSTOP", "SUBSCRIBE", "YES")
HELP_WORDS = ("HELP", "INFO", "AIDE", "AYUDA", "HILFE")

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _fold(word: str) -> str:
    # ARRÊT and ARRET are the same keyword to a person typing on a phone.
    return "".join(c for c in unicodedata.normalize("NFKD", word.upper()) if not unicodedata.combining(c))


def match_keyword(text: str, *, stop_words=STOP_WORDS, start_words=START_WORDS,
                  help_words=HELP_WORDS) -> str | None:
    """'STOP', 'START', 'HELP' or None. Only the first word counts, so a chatty reply that merely
    mentions stop later ("don't stop sending") is not an opt-out."""
    words = _WORD.findall(text or "")
    if not words:
        return None
    first = _fold(words[0])
    if len(words) > 1 and first == "STOP" and _fold(words[1]) == "ALL":
        return "STOP"
    for keyword, vocabulary in (("STOP", stop_words), ("START", start_words), ("HELP", help_words)):
        if first in {_fold(w) for w in vocabulary}:
            return keyword
    return None
