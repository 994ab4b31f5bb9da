"""Ground a model's short answer in the article, or decide the article does not say."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from service.domain import Citation
from service.grounding.citations import cite_sentence, locate_in_sentence
from service.retrieval.index import DocumentIndex
from service.text.words import content_terms, coverage, is_known

# An answer string counts as found in a sentence at this rapidfuzz score (0-100).
ANSWER_MATCH_MIN = 85.0
# A paraphrased answer needs this share of its content words in one sentence.
PARAPHRASE_SUPPORT_MIN = 0.6
# The evidence sentence must mention this share of the question's content words;
# below it the answer is treated as unsupported (tuned on the eval suite).
QUESTION_RELEVANCE_MIN = 0.2

_NO_ANSWER = re.compile(
    r"^(?:none|null|n/?a|unknown|not (?:stated|mentioned|given|specified|known)\b.*|"
    r"(?:the )?(?:article|text) does not (?:say|state|mention|specify)\b.*|"
    r"no(?:t)? (?:answer|information)\b.*|unanswerable|cannot (?:be )?(?:answered|determined)\b.*)$",
    re.IGNORECASE,
)
_STRIP = " \t\r\n\"'“”‘’.,;:"


@dataclass(frozen=True, slots=True)
class GroundedAnswer:
    """The pipeline's verdict on one answer."""

    answerable: bool
    answer: str | None
    citations: list[Citation]
    # Where the answer's words are in the article (code points), when they are there.
    span: tuple[int, int] | None = None


ABSTAIN = GroundedAnswer(answerable=False, answer=None, citations=[])


def clean_answer(raw: str) -> str:
    """The model's answer without quotes, stray punctuation or "no answer" phrases."""
    # Constrained decoding lets a small model "close" the JSON inside the string
    # ('2014 }\nThe article is...'): what follows a line break or brace is not answer.
    raw = re.split(r"\s*[{}]|\n\s*\n", raw, maxsplit=1)[0]
    answer = " ".join(raw.split()).strip(_STRIP)
    if not answer or _NO_ANSWER.match(answer):
        return ""
    return answer


_WORD = re.compile(r"\w+")


def trim_to_new_words(
    text: str, start: int, end: int, question_terms: frozenset[str]
) -> tuple[int, int]:
    """Narrow an answer span by dropping leading/trailing words the question already
    says (or stopwords): "Dmitry Peskov, Kremlin spokesperson" -> "Dmitry Peskov"
    for "Who is the Kremlin spokesperson?". The span stays a substring of the text."""
    words = list(_WORD.finditer(text, start, end))
    first, last = 0, len(words)
    while first < last - 1 and is_known(words[first].group(), question_terms):
        first += 1
    while last - 1 > first and is_known(words[last - 1].group(), question_terms):
        last -= 1
    if not words or all(is_known(w.group(), question_terms) for w in words[first:last]):
        return start, end
    new_start, new_end = words[first].start(), words[last - 1].end()
    # Keep brackets balanced: "Exporting Countries (OAPEC)", not "(OAPEC".
    for opening, closing in ("()", "[]"):
        inside = text[new_start:new_end]
        if inside.count(opening) > inside.count(closing) and text[new_end : new_end + 1] == closing:
            new_end += 1
    return new_start, new_end


def ground_answer(
    index: DocumentIndex,
    question: str,
    raw_answer: str,
    shown: list[int],
    model_sentence: int | None = None,
) -> GroundedAnswer:
    """Find the shown sentence that supports the answer; abstain when none does."""
    document = index.document
    answer = clean_answer(raw_answer)
    if not answer or not shown:
        return ABSTAIN
    question_terms = content_terms(question)
    answer_terms = content_terms(answer)

    best: tuple[float, float, int, int, int, int] | None = None  # key..., sentence, start, end
    for sentence in shown:
        located = locate_in_sentence(document, sentence, answer)
        if located is None or located[2] < ANSWER_MATCH_MIN:
            continue
        if index.is_hidden(located[0], located[1]):
            continue  # words of a passage that reads as instructions are no evidence
        if located[2] < 100 and _names_something_else(answer, index.sentence_terms[sentence]):
            continue  # a near match that names something else ("London" for "Paris")
        relevance = coverage(question_terms, index.sentence_terms[sentence])
        key = (located[2], relevance, int(sentence == model_sentence))
        if best is None or key > best[:3]:
            best = (*key, sentence, located[0], located[1])  # type: ignore[assignment]
    if best is not None:
        _, relevance, _, sentence, start, end = best
        if relevance < QUESTION_RELEVANCE_MIN:
            return ABSTAIN
        # The article's own words replace the model's spelling of them (the span is
        # what EM/F1 score and what the page highlights).
        start, end = trim_to_new_words(document.text, start, end, question_terms)
        return GroundedAnswer(
            True, document.text[start:end], [cite_sentence(document, sentence)], (start, end)
        )

    # The answer is not a span of the article: accept it only as a close paraphrase
    # of one shown sentence that is also about the question.
    scored = [
        (
            coverage(answer_terms, index.sentence_terms[s]),
            coverage(question_terms, index.sentence_terms[s]),
            s,
        )
        for s in shown
    ]
    support, relevance, sentence = max(scored)
    if support < PARAPHRASE_SUPPORT_MIN or relevance < QUESTION_RELEVANCE_MIN:
        return ABSTAIN
    if _names_something_else(answer, index.sentence_terms[sentence]):
        return ABSTAIN
    return GroundedAnswer(True, answer, [cite_sentence(document, sentence, support)])


# A word of the answer that is not in the sentence still counts as there when it is
# spelled this closely (rapidfuzz ratio) to one that is: "Dmitri" for "Dmitry".
SPELLING_MATCH_MIN = 80.0


def _names_something_else(answer: str, sentence_terms: frozenset[str]) -> bool:
    """True when the answer names something the sentence does not: one of its names or
    numbers (capitalised words, words with digits) is neither in the sentence nor a
    respelling of a word that is. Other words may differ (a paraphrase), names may not."""
    names = [w for w in _WORD.findall(answer) if w[0].isupper() or any(c.isdigit() for c in w)]
    terms = content_terms(" ".join(names)) - sentence_terms if names else frozenset()
    return any(not _respelled(term, sentence_terms) for term in terms)


def _respelled(term: str, terms: frozenset[str]) -> bool:
    """True when one of terms spells term this closely (SPELLING_MATCH_MIN)."""
    match = process.extractOne(term, terms, scorer=fuzz.ratio, score_cutoff=SPELLING_MATCH_MIN)
    return match is not None


def missing_share(names: frozenset[str], terms: frozenset[str], respelled: bool = False) -> float:
    """Share of names (name_terms of a question) that terms lack; with respelled, a
    close respelling of a name counts as having it. Used on the whole article (a
    question about someone the article never names is rarely answered by it) and on
    the passage around the answer."""
    if not names:
        return 0.0
    missing = [n for n in names - terms if not (respelled and _respelled(n, terms))]
    return len(missing) / len(names)
