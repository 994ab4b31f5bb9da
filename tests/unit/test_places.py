"""Countries under any of their names, for the answerability signals."""

from __future__ import annotations

import pytest

from service.text.places import with_places
from service.text.words import content_terms, name_terms


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("Polish Foreign Minister Radoslaw Sikorski said", "Who is Poland's foreign minister?"),
        ("France's president spoke", "Which French official spoke?"),
        ("American troops arrived", "What did the United States send?"),
        ("the United States of America said", "What did the American envoy say?"),
        ("British officials denied it", "What did the UK deny?"),
    ],
)
def test_a_country_named_one_way_is_found_under_another(sentence, question):
    names = name_terms(question, skip_first=True)
    assert names - content_terms(sentence)  # not found as the words stand
    assert names <= with_places(content_terms(sentence))


@pytest.mark.parametrize(
    ("sentence", "question"),
    [
        ("Polish Foreign Minister Radoslaw Sikorski said", "Who is Russia's foreign minister?"),
        ("the Normans settled in Normandy", "When did the French arrive?"),
        ("Georgian wine is old", "What does Armenia export?"),
    ],
)
def test_other_countries_stay_missing(sentence, question):
    names = name_terms(question, skip_first=True)
    assert names - with_places(content_terms(sentence))


def test_terms_without_a_country_are_left_as_they_are():
    terms = content_terms("The bridge opened in 1932 after six years of work")
    assert with_places(terms) == terms
