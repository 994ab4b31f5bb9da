"""How likely a grounded answer is right: one score in [0, 1] from measured signals, so
the service says "not in the article" when the evidence is weak, whatever the model says.

The model's own "answerable" flag is not used (small models get it wrong; see
../shared/EMBEDDED_MODEL.md). The signals are about the evidence the answer rests on,
plus, when the endpoint returns logprobs, the model's probability of "yes" when asked
whether the article states the answer (ANSWER_CHECK); a logistic model combines them with weights fitted on the shared dev data by
`python -m evals calibrate` (never on the cases CI gates on), stored in
answerability.json with what they were fitted on.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

WEIGHTS_FILE = Path(__file__).with_name("answerability.json")


@dataclass(frozen=True, slots=True)
class AnswerSignals:
    """What the evidence says about one grounded answer (all cheap, no extra model call)."""

    # Share of the question's content words in the sentence holding the answer.
    relevance: float
    # The same share for the shown sentence that has most of them.
    best_relevance: float
    # Cosine similarity of the question to the answer's sentence, and to the best
    # shown sentence (0 when dense retrieval is off).
    similarity: float
    best_similarity: float
    # Rank of the answer's sentence among the shown ones by hybrid score (0 = first).
    rank: int
    # 1 when the answer is words of the article, 0 for a paraphrase.
    verbatim: float
    # Words in the answer.
    length: int
    # Share of the answer's content words that the question already has: an answer
    # that repeats the question tells nothing new (a common wrong answer).
    answer_in_question: float
    # Share of the question's names and numbers the article never mentions; the share
    # the answer's sentence does not; and the share that neither it nor the sentence
    # before it mentions (a sentence often says "he" or "it" for a name the previous
    # one gives). A country counts under any of its names ("Poland", "Polish").
    unmentioned: float
    names_off_sentence: float
    names_off_passage: float
    # The model's probability of "yes" to "does the article state the answer?" (None
    # when not asked, or the endpoint gives no logprobs).
    confirmed: float | None = None

    def vector(self) -> dict[str, float]:
        """Named features for the logistic model (ranks and lengths on a log scale)."""
        values = asdict(self)
        if self.confirmed is None:
            del values["confirmed"]
        values["rank"] = math.log1p(self.rank)
        values["length"] = math.log1p(self.length)
        values["similarity_gap"] = self.similarity - self.best_similarity
        values["relevance_gap"] = self.relevance - self.best_relevance
        return {k: float(v) for k, v in values.items()}


# Features that exist only with dense retrieval (DENSE_RETRIEVAL): without it they
# would read as 0, so the service scores with a model fitted without them.
DENSE_FEATURES = frozenset({"similarity", "best_similarity", "similarity_gap"})
# Features that exist only when the model was asked to check its answer.
CHECK_FEATURES = frozenset({"confirmed"})


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """A fitted logistic model: weights per feature and a bias."""

    weights: dict[str, float]
    bias: float

    def score(self, signals: AnswerSignals) -> float:
        """Probability that the answer is right, in [0, 1]."""
        features = signals.vector()
        z = self.bias + sum(w * features[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))


@dataclass(frozen=True, slots=True)
class Answerability:
    """The shipped models, one per set of signals a request can have (hybrid or BM25
    evidence, with or without the model's check), and what they were fitted on."""

    dense: AnswerabilityModel
    lexical: AnswerabilityModel
    dense_checked: AnswerabilityModel | None
    lexical_checked: AnswerabilityModel | None
    provenance: dict[str, Any]

    def score(self, signals: AnswerSignals, dense: bool) -> float:
        """Probability that the answer is right, with the model for the signals there."""
        checked = self.dense_checked if dense else self.lexical_checked
        if signals.confirmed is not None and checked is not None:
            return checked.score(signals)
        return (self.dense if dense else self.lexical).score(signals)


def _model(data: dict[str, Any]) -> AnswerabilityModel:
    return AnswerabilityModel(
        weights={k: float(v) for k, v in data["weights"].items()}, bias=float(data["bias"])
    )


@cache
def load_model(path: Path = WEIGHTS_FILE) -> Answerability:
    """The shipped models (read once per process)."""
    data = json.loads(path.read_text("utf-8"))
    return Answerability(
        dense=_model(data["dense"]),
        lexical=_model(data["lexical"]),
        dense_checked=_model(data["dense_checked"]) if "dense_checked" in data else None,
        lexical_checked=_model(data["lexical_checked"]) if "lexical_checked" in data else None,
        provenance=dict(data.get("provenance", {})),
    )
