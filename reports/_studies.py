"""The optimizer's studies as optuna-dashboard shows them: history, importances, parallel coordinates.

Optuna draws the figures (``optuna.visualization``, plotly); a figure Optuna cannot draw for a study (too
few finished trials, a single parameter) is left out with the reason, never an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from reports._dashboard_data import StudySummary

__all__ = ["MAX_STUDIES", "read_studies"]

#: The most recently started studies drawn.
MAX_STUDIES = 5


def _plain(figure: Any) -> dict[str, Any]:
    """A plotly figure as a plain dict, without the default template (the page sets its own)."""
    document: dict[str, Any] = figure.to_plotly_json()
    document.get("layout", {}).pop("template", None)
    return document


def _figures(study: Any) -> tuple[dict[str, dict[str, Any]], tuple[str, ...]]:
    from optuna import importance, visualization

    # PED-ANOVA: importances without fitting a forest (fANOVA's default takes seconds per study).
    evaluator = importance.PedAnovaImportanceEvaluator()
    makers: dict[str, Callable[[Any], Any]] = {
        "history": visualization.plot_optimization_history,
        "importance": lambda study: visualization.plot_param_importances(study, evaluator=evaluator),
        "parallel": visualization.plot_parallel_coordinate,
    }
    figures: dict[str, dict[str, Any]] = {}
    problems = []
    for name, maker in makers.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                figures[name] = _plain(maker(study))
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            problems.append(f"{name}: {exc}")
    return figures, tuple(problems)


def read_studies(storage_url: str, limit: int = MAX_STUDIES) -> tuple[StudySummary, ...]:
    """The ``limit`` studies of ``storage_url`` with the latest trials, newest first, with their figures.

    Raises
    ------
    optuna.exceptions.StorageInternalError
        The storage could not be read (the caller reports it as a note).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summaries = optuna.get_all_study_summaries(storage_url, include_best_trial=False)
    ranked = sorted(
        (s for s in summaries if s.n_trials > 0),
        key=lambda s: s.datetime_start.timestamp() if s.datetime_start else 0.0,
        reverse=True,
    )
    studies = []
    for summary in ranked[:limit]:
        study = optuna.load_study(study_name=summary.study_name, storage=storage_url)
        trials = study.get_trials(deepcopy=False)
        times = [t.datetime_complete or t.datetime_start for t in trials]
        known = [t for t in times if t is not None]
        figures, problems = _figures(study)
        studies.append(
            StudySummary(
                summary.study_name,
                len(trials),
                min(known, default=None),
                max(known, default=None),
                figures,
                problems,
            )
        )
    return tuple(studies)
