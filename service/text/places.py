"""Countries by every name the text may use for them: "Poland", "Polish", "Republic of
Poland"; "the UK", "United Kingdom", "British". A question about "Poland's foreign minister"
is about the sentence that says "Polish Foreign Minister", and the answerability
signals must not count "Poland" as a name the article never mentions.

The names come from countryinfo's country data (name, alternative spellings and
demonym of 250 countries and territories), read once when this module is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from countryinfo import CountryInfo

from service.text.words import content_terms


def _forms(info: Mapping[str, Any]) -> list[frozenset[str]]:
    """Each way of naming one country, as the stems it is made of. Alternative spellings
    include ISO codes ("UK", "USA": how news writes some) and native names."""
    spellings = [info.get("name"), info.get("demonym"), *(info.get("altSpellings") or [])]
    forms = []
    for spelling in spellings:
        if isinstance(spelling, str) and not any(c.isdigit() for c in spelling):
            terms = content_terms(spelling)
            if terms:
                forms.append(terms)
    return forms


def _countries() -> tuple[tuple[tuple[frozenset[str], ...], frozenset[str]], ...]:
    countries = []
    for info in CountryInfo.all().values():
        forms = _forms(info)
        if len(forms) > 1:
            countries.append((tuple(forms), frozenset().union(*forms)))
    return tuple(countries)


_COUNTRIES = _countries()


def with_places(terms: frozenset[str]) -> frozenset[str]:
    """Terms (stems, as content_terms gives them) plus the stems of every other name of
    each country they name in full: "polish" adds "poland", "republ"…"""
    extra: set[str] = set()
    for forms, stems in _COUNTRIES:
        if any(form <= terms for form in forms):
            extra |= stems
    return terms | extra if extra else terms
