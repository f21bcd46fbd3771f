import pytest

from dashboard.sms.keywords import match_keyword


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop.", "stop please", "STOP ALL", "Stopall", " stop!! ",
                                  "UNSUBSCRIBE", "end", "Cancel", "quit", "ARRET", "Arrêt", "baja", "STOPP",
                                  "Abmelden"])
def test_it_recognises_opt_out_words_whatever_the_case_and_punctuation(text):
    assert match_keyword(text) == "STOP"


@pytest.mark.parametrize("text, keyword", [("START", "START"), ("unstop", "START"), ("Yes", "START"),
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
