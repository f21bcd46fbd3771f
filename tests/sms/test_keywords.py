import pytest

from dashboard.config import DEFAULTS
from dashboard.sms.keywords import match_keyword, parse_vocabulary


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", "stop please", "STOP ALL", "Stopall", " stop!! ",
                                  "UNSUBSCRIBE", "end", "Cancel", "quit", "ARRET", "Arrêt", "baja", "STOPP",
                                  "Abmelden"])
def test_it_recognises_opt_out_words_whatever_the_case_and_punctuation(text):
    assert match_keyword(text) == "STOP"


@pytest.mark.parametrize("text, keyword", [("START", "START"), ("unstop", "START"), ("Un-stop!", "START"),
                                           ("help", "HELP"), ("AIDE", "HELP"), ("Ayuda?", "HELP")])
def test_it_recognises_start_and_help(text, keyword):
    assert match_keyword(text) == keyword


@pytest.mark.parametrize("text", ["Please don't stop sending", "stopwatch", "", "   ", "123", "Thanks!",
                                  "endless offers"])
def test_a_message_that_only_mentions_a_keyword_is_not_one(text):
    assert match_keyword(text) is None


def test_the_vocabulary_can_be_replaced():
    assert match_keyword("basta", stop_words=("BASTA",)) == "STOP"
    assert match_keyword("stop", stop_words=("BASTA",)) is None


@pytest.mark.parametrize("text", ["YES", "yes!", "Yes please", "Oui", "sí"])
def test_yes_is_a_confirmation_not_an_opt_in(text):
    # A bare YES must not re-subscribe anyone: it only completes a pending double opt-in.
    assert match_keyword(text) == "YES"


def test_a_configured_vocabulary_is_folded_and_split_on_commas():
    assert parse_vocabulary(" stop, Arrêt ,STOP ALL,, baja") == ("STOP", "ARRET", "STOPALL", "BAJA")


def test_the_configured_defaults_cover_the_usual_words_and_two_word_forms():
    stop = parse_vocabulary(DEFAULTS["OPT_OUT_KEYWORDS"])
    for word in ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "CANCEL", "QUIT", "ARRET", "BAJA", "STOPP"):
        assert word in stop
    assert "YES" not in parse_vocabulary(DEFAULTS["OPT_IN_KEYWORDS"])
    assert match_keyword("Stop all", stop_words=stop) == "STOP"
    assert match_keyword("Unsub scribe", stop_words=("UNSUBSCRIBE",)) == "STOP"


def test_a_word_in_two_vocabularies_counts_as_an_opt_out():
    assert match_keyword("end", stop_words=("END",), start_words=("END",)) == "STOP"
