"""The settings of one eval run as a typed value, so the runner needs no argparse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.gating import DEFAULT_THRESHOLDS
from evals.prices import DEFAULT_PRICES
from evals.schema import Task

SummaryLength = Literal["short", "medium", "long"]


@dataclass(frozen=True)
class RunConfig:
    """What to run, against which service, and where to write the reports.

    The defaults are those of `python -m evals run`, except `judge_model`/`judge_url`,
    which the CLI takes from EVAL_JUDGE_MODEL/EVAL_JUDGE_BASE_URL.
    """

    datasets: tuple[Path, ...] = ()  # dataset files; or give a suite
    suite: Path | None = None  # a suite file listing datasets (evals/suites/*.toml)
    task: Task | None = None  # None: every task the datasets support
    limit: int | None = None  # first N cases per dataset (questions for qa, else documents)
    url: str | None = None  # a running service; None runs the app in-process
    concurrency: int = 2
    judge_model: str | None = None  # None: faithfulness is not measured
    judge_url: str | None = None  # None: the OpenAI API
    summary_length: SummaryLength = "medium"
    out: Path = Path("eval-report")
    replay: bool = False  # in-process: answer from recorded model calls only
    thresholds: Path = DEFAULT_THRESHOLDS
    prices: Path = DEFAULT_PRICES
    # Answers scoring below this are counted as withheld. The runner asks the service for
    # every answer it could give (min_answerability 0) so the report can also draw the
    # whole HasAns/NoAns trade-off; None: the service's default ANSWERABILITY_THRESHOLD.
    answerability_threshold: float | None = None

    def __post_init__(self) -> None:
        # The CLI makes --dataset/--suite mutually exclusive and required; callers from
        # Python get the same rule here instead of a confusing failure mid-run.
        if bool(self.datasets) == (self.suite is not None):
            raise ValueError("RunConfig needs either datasets or a suite (not both)")
