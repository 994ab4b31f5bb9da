"""Grounding at each of its thresholds: which model answers and summary sentences are
accepted, what they cite, and where the answer's words are. Pure functions, no model."""

from __future__ import annotations

import pytest

from service.grounding.answers import (
    PARAPHRASE_SUPPORT_MIN,
    QUESTION_RELEVANCE_MIN,
    clean_answer,
    ground_answer,
    trim_to_new_words,
)
from service.grounding.citations import NARROW_MIN_SCORE, locate_in_sentence, sentence_citation
from service.grounding.drafts import SUMMARY_SUPPORT_MIN, Draft, ground_summary
from service.pipeline.ingest import make_document
from service.retrieval.index import DocumentIndex
from service.text.words import content_terms, coverage

ARTICLE = (
    "The Varna bridge opened in 1932 after six years of work. "
    "It was designed by the engineer Ilse Brandt, who also designed the harbour station. "
    "The city council paid 4 million marks for it. "
    "Ferries stopped running across the bay the same year."
)
ALL = [0, 1, 2, 3]


@pytest.fixture(scope="module")
def index() -> DocumentIndex:
    return DocumentIndex.build(make_document(ARTICLE, 256, 32))


def _answer(index, question, raw, shown=ALL):
    return ground_answer(index, question, raw, shown)


@pytest.mark.parametrize(
    ("question", "raw", "expected", "sentence"),
    [
        # Exact words of the article: the article's own words, cited.
        ("Who designed the Varna bridge?", "Ilse Brandt", "Ilse Brandt", 1),
        # Different case and quotes: still the article's spelling.
        ("Who designed the Varna bridge?", '"ilse brandt"', "Ilse Brandt", 1),
        # A respelling close enough (partial ratio >= 85) snaps to the article's words.
        ("Who designed the Varna bridge?", "Ilse Brand", "Ilse Brandt", 1),
        # Words the question already says are trimmed off the span.
        ("When did the Varna bridge open?", "opened in 1932", "1932", 0),
        ("How much did the city council pay?", "4 million marks", "4 million marks", 2),
    ],
)
def test_answers_found_in_the_article_are_its_own_words(index, question, raw, expected, sentence):
    grounded = _answer(index, question, raw)
    assert grounded.answerable and grounded.answer == expected
    assert grounded.citations[0].sentence == sentence
    start, end = grounded.span
    assert ARTICLE[start:end] == expected


@pytest.mark.parametrize(
    ("question", "raw"),
    [
        ("Who designed the Varna bridge?", ""),  # the model said nothing
        ("Who designed the Varna bridge?", "The article does not say."),
        ("Who designed the Varna bridge?", "unknown"),
        # A near match that names someone else: not the article's answer.
        ("Who designed the Varna bridge?", "Ilse Brandt Hoffmann of Leipzig"),
        # Found, but in a sentence that is not about the question (relevance < 0.2).
        ("What is the capital of Peru?", "1932"),
        # Not in the article at all, and no paraphrase of a shown sentence.
        ("Who designed the Varna bridge?", "Gustave Eiffel"),
    ],
)
def test_answers_the_article_does_not_support_are_abstentions(index, question, raw):
    grounded = _answer(index, question, raw)
    assert not grounded.answerable and grounded.answer is None and grounded.citations == []
    assert grounded.span is None


def test_an_answer_only_in_sentences_not_shown_is_an_abstention(index):
    assert not _answer(
        index, "Who designed the Varna bridge?", "Ilse Brandt", shown=[0, 2]
    ).answerable


def test_the_relevance_threshold_decides_between_answer_and_abstention(index):
    # "ferries" + "bay" are both in sentence 3; "tunnel" and "toll" are not.
    question_terms = content_terms("When did ferries stop crossing the tunnel toll bay?")
    relevance = coverage(question_terms, index.sentence_terms[3])
    assert relevance >= QUESTION_RELEVANCE_MIN
    assert _answer(
        index, "When did ferries stop crossing the tunnel toll bay?", "the same year"
    ).answerable
    far = "When did lorries and buses stop crossing the tunnel toll?"
    assert coverage(content_terms(far), index.sentence_terms[3]) < QUESTION_RELEVANCE_MIN
    assert not _answer(index, far, "the same year").answerable


def test_a_paraphrase_needs_most_of_its_words_in_one_sentence(index):
    question = "What did Brandt design?"
    close = "designed harbour station"  # reordered words of sentence 1, no exact span
    assert coverage(content_terms(close), index.sentence_terms[1]) >= PARAPHRASE_SUPPORT_MIN
    grounded = _answer(index, question, "the harbour station and bridge she designed")
    assert grounded.answerable and grounded.citations[0].sentence == 1
    loose = "a museum, a school and a harbour"
    assert coverage(content_terms(loose), index.sentence_terms[1]) < PARAPHRASE_SUPPORT_MIN
    assert not _answer(index, question, loose).answerable


def test_paraphrases_are_cited_without_an_answer_span(index):
    grounded = _answer(index, "What did Brandt design?", "station harbour")
    assert grounded.answerable and grounded.span is None
    assert grounded.answer == "station harbour" and grounded.citations[0].sentence == 1


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Ilse Brandt. ", "Ilse Brandt"),
        ("2014 }\nThe article is about", "2014"),
        ("N/A", ""),
        ("Not stated in the article", ""),
        ("cannot be determined", ""),
    ],
)
def test_clean_answer(raw, clean):
    assert clean_answer(raw) == clean


def test_trimming_keeps_brackets_balanced():
    text = "proclaimed by the Organization of Arab Petroleum Exporting Countries (OAPEC) in 1973"
    start, end = text.index("the Organization"), text.index(")") + 1
    a, b = trim_to_new_words(text, start, end, content_terms("Who proclaimed the embargo?"))
    assert text[a:b] == "Organization of Arab Petroleum Exporting Countries (OAPEC)"


@pytest.mark.parametrize(
    ("fragment", "narrowed"),
    [("the engineer Ilse Brandt", True), ("the architect Ilse Brandt", False)],
)
def test_a_quote_narrows_a_citation_only_when_it_matches_closely(index, fragment, narrowed):
    located = locate_in_sentence(index.document, 1, fragment)
    assert (located is not None and located[2] >= NARROW_MIN_SCORE) is narrowed
    citation = sentence_citation(index.document, 1, 1.0, quote=fragment)
    whole = index.document.sentence_text(1)
    assert (citation.quote != whole) is narrowed
    assert ARTICLE[citation.start : citation.end] == citation.quote


@pytest.mark.parametrize(
    ("draft", "kept"),
    [
        ("The Varna bridge opened in 1932.", True),  # every word supported
        ("The bridge opened in 1932 to great applause.", True),  # 3 of 5 terms
        ("The bridge was painted red by volunteers from Sofia.", False),  # mostly invented
    ],
)
def test_summary_sentences_need_half_their_words_in_one_article_sentence(index, draft, kept):
    best = max(coverage(content_terms(draft), terms) for terms in index.sentence_terms)
    assert (best >= SUMMARY_SUPPORT_MIN) is kept
    grounded = ground_summary(index, [Draft(draft, [])], limit=3)
    assert bool(grounded) is kept


def test_summary_repeats_are_dropped_and_a_second_source_is_cited(index):
    drafts = [
        Draft("The Varna bridge opened in 1932.", []),
        Draft("The Varna bridge opened in 1932!", []),  # a repeat
        Draft("Brandt designed the bridge, and the council paid 4 million marks.", []),
    ]
    grounded = ground_summary(index, drafts, limit=5)
    assert [g.text for g in grounded] == [drafts[0].text, drafts[2].text]
    assert [c.sentence for c in grounded[1].citations] == [1, 2]


@pytest.mark.parametrize(("sources", "cited"), [([], 0), ([1], 1), ([0, 1], 0)])
def test_the_sentences_the_model_named_break_ties_between_equal_support(sources, cited):
    twice = DocumentIndex.build(
        make_document("Anna met the mayor. Later Anna met the mayor.", 256, 32)
    )
    grounded = ground_summary(twice, [Draft("Anna met the mayor.", sources)], limit=1)
    assert [c.sentence for c in grounded[0].citations] == [cited]
