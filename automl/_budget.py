"""The plan of a search with a time budget: when trials stop, and what is kept for the end.

``automl search --time-budget 10m`` covers the whole command. The plan splits it into the
search (trials until ``search_until``), the final training of the finalists on
train+validation (until ``final_until``) and a reserve for comparing and exporting them.
Every deadline is a ``time.monotonic()`` value counted from the command's start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from automl._config import EXPORT_RESERVE, StudyConfig
from automl._errors import UserError

__all__ = [
    "Plan",
    "make_plan",
    "plan_from_env",
    "PLAN_ENV",
    "LEAD_ENV",
    "ASHA_REDUCTION",
    "rungs",
    "BUDGET_TRIALS_CAP",
    "FINAL_STRETCH",
    "VIEWS_SHARE",
]

# With a time budget and no --trials, the budget ends the search: trials are queued one at
# a time up to this many.
BUDGET_TRIALS_CAP = 1000

# Successive halving keeps the best third of the trials at each rung: epochs 1, 3, 9, 27...
ASHA_REDUCTION = 3
# Shares of the budget kept after the search: retraining the finalists, then comparing and
# exporting them. After the test-time views' predictions, which are timed to end by
# ``views_until``, the comparison, the export (model card, model.keras, SavedModel, the
# model logged to MLflow) and the process's exit took 1.5-2 s on a 2-core CPU and on one
# core of it (bench/RESULTS.md, "The export's reserve at short budgets"), and about 7 s on
# a CPU 8 times slower: 10 s at least, a fortieth of longer budgets (15 s at 10 minutes),
# whose models and data may be larger.
FINAL_TRAINING_SHARE = 0.25
EXPORT_SHARE = 0.025
EXPORT_MIN_S = EXPORT_RESERVE
# Of that reserve, the share the finalists' test-time views may take to predict the
# test split (automl._views; each view costs a prediction of the test split): 5 s of 10.
VIEWS_SHARE = 1 / 2
# The search ends early enough for the best trial to retrain for this many times its epochs,
# giving up at most MAX_SEARCH_GIVEN_UP of its planned time for it: on a CPU the minutes go
# further there than in more trials (18 epochs instead of 9 gave +1.4 points on 5,000
# Fashion-MNIST images; bench/RESULTS.md, "The final training stretched").
FINAL_STRETCH = 2
MAX_SEARCH_GIVEN_UP = 0.5


def rungs(max_epochs: int, pruner: str) -> tuple[int, ...]:
    """The epochs at which the pruner compares trials (successive halving and Hyperband)."""
    if pruner not in ("asha", "hyperband"):
        return ()
    points, epoch = [], 1
    while epoch < max_epochs:
        points.append(epoch)
        epoch *= ASHA_REDUCTION
    return tuple(points)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """When the trials stop and how long the final training and the export may take.

    Without a budget every deadline is ``None`` (``timeout`` still bounds the trials).
    """

    budget_s: float | None
    started: float
    search_until: float | None
    final_until: float | None
    max_epochs: int
    rungs: tuple[int, ...]
    trials: int
    lazy_queue: bool

    def search_deadline(self, final_training_s: float, stretched_s: float | None = None) -> float | None:
        """When trials must stop so that ``final_training_s`` (the best finalist's retraining)
        still fits before ``final_until``: the planned end of the search, or earlier.

        ``stretched_s`` is that retraining over ``FINAL_STRETCH`` times the epochs: the search
        ends early enough for it too, unless that would cut more than ``MAX_SEARCH_GIVEN_UP``
        of the search's planned time.
        """
        if self.search_until is None or self.final_until is None:
            return None
        if self.final_until == self.search_until:  # no final training
            return self.search_until
        latest = min(self.search_until, self.final_until - final_training_s)
        if stretched_s is not None:
            floor = self.search_until - MAX_SEARCH_GIVEN_UP * (self.search_until - self.started)
            latest = min(latest, max(self.final_until - stretched_s, floor))
        return max(self.started, latest)

    @property
    def views_until(self) -> float | None:
        """When the finalists' test predictions over their test-time views must end:
        ``VIEWS_SHARE`` of the reserve after the final training."""
        if self.budget_s is None or self.final_until is None:
            return None
        return self.final_until + VIEWS_SHARE * (self.started + self.budget_s - self.final_until)

    def to_env(self) -> dict[str, str]:
        """The plan for the worker processes this one starts (``--workers``, ``--isolate``), as
        ``plan_from_env`` reads it: its deadlines as wall-clock times, which processes share."""
        shift = time.time() - time.monotonic()
        fields = {
            "budget_s": self.budget_s,
            "started": self.started + shift,
            "search_until": _shifted(self.search_until, shift),
            "final_until": _shifted(self.final_until, shift),
            "max_epochs": self.max_epochs,
            "rungs": list(self.rungs),
            "trials": self.trials,
            "lazy_queue": self.lazy_queue,
        }
        return {PLAN_ENV: json.dumps(fields)}

    def to_dict(self) -> dict[str, object]:
        def offset(deadline: float | None) -> float | None:
            return None if deadline is None else round(deadline - self.started, 1)

        return {
            "budget_s": self.budget_s,
            "search_s": offset(self.search_until),
            "final_training_until_s": offset(self.final_until),
            "max_epochs": self.max_epochs,
            "rungs": list(self.rungs),
            "trials": self.trials,
        }

    def describe(self) -> str:
        """The plan as one line for the console."""
        rung_text = f"successive halving at epochs {', '.join(map(str, self.rungs))}; " if self.rungs else ""
        epochs = f"{rung_text}up to {self.max_epochs} epochs a trial"
        if self.budget_s is None:
            return f"plan: {self.trials} trials, {epochs}"
        assert self.search_until is not None and self.final_until is not None  # set together with the budget
        search = self.search_until - self.started
        final = self.final_until - self.search_until
        export = self.budget_s - (self.final_until - self.started)
        return (
            f"plan for {_duration(self.budget_s)}: trials for {_duration(search)} ({epochs}), then "
            f"{_duration(final)} to retrain the finalists on train+validation and {_duration(export)} to compare "
            "and export them"
        )


# The environment variable that hands a search's plan to its worker processes.
PLAN_ENV = "AUTOML_PLAN"
# Set ("1") for the processes ``--isolate`` (and a search past its memory limit) starts: they
# run the search's own trials, so its first model may train through the final window, as in
# one process, and the search, not they, says how many ran.
LEAD_ENV = "AUTOML_LEAD"


def plan_from_env(environ: Mapping[str, str]) -> Plan | None:
    """The plan of the search that started this worker (``Plan.to_env``), or None.

    Raises:
        UserError: the variable holds no plan, quoting it.
    """
    text = environ.get(PLAN_ENV)
    if not text:
        return None
    shift = time.monotonic() - time.time()
    try:
        fields = json.loads(text)
        return Plan(
            budget_s=fields["budget_s"],
            started=fields["started"] + shift,
            search_until=_shifted(fields["search_until"], shift),
            final_until=_shifted(fields["final_until"], shift),
            max_epochs=int(fields["max_epochs"]),
            rungs=tuple(int(r) for r in fields["rungs"]),
            trials=int(fields["trials"]),
            lazy_queue=bool(fields["lazy_queue"]),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{PLAN_ENV} does not hold a search's plan ({exc!r}): {text!r}") from exc


def _shifted(deadline: float | None, shift: float) -> float | None:
    """``deadline`` on another clock, ``shift`` seconds ahead of this one (None stays None)."""
    return None if deadline is None else deadline + shift


def make_plan(config: StudyConfig, *, started: float) -> Plan:
    """The plan of ``config``'s run, counted from ``started`` (a ``time.monotonic()`` value)."""
    max_epochs = config.epochs
    rung_points = rungs(max_epochs, config.pruner)
    if config.time_budget is None:
        return Plan(
            budget_s=None,
            started=started,
            search_until=None,
            final_until=None,
            max_epochs=max_epochs,
            rungs=rung_points,
            trials=config.trials,
            lazy_queue=False,
        )
    budget = config.time_budget
    export = max(EXPORT_MIN_S, EXPORT_SHARE * budget)
    final = FINAL_TRAINING_SHARE * budget if config.final_training else 0.0
    search = max(budget - export - final, 0.0)
    return Plan(
        budget_s=budget,
        started=started,
        search_until=started + search,
        final_until=started + search + final,
        max_epochs=max_epochs,
        rungs=rung_points,
        trials=config.trials,
        lazy_queue=config.sampler != "grid",  # grid points are queued up front
    )


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
