"""``study_plots``: Optuna's figures of a study, drawn without changing the other figures' style."""

from __future__ import annotations

import matplotlib
import optuna

from automl._plots import close_figure, study_plots


def _study(params: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: sum(t.suggest_float(f"p{i}", 0, 1) for i in range(params)), n_trials=6)
    return study


def _style() -> dict:
    return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}  # study_plots picks Agg


def test_optunas_ggplot_style_stays_with_its_own_plots() -> None:
    before = _style()
    figures = study_plots(_study(3), pareto=False)
    assert set(figures) == {"optimization_history.png", "param_importances.png"}
    for figure in figures.values():
        close_figure(figure)
    assert _style() == before  # the comparison's heatmaps, drawn next, have no grid lines


def test_the_importance_plot_grows_with_the_parameters_so_each_label_can_be_read() -> None:
    heights = {}
    for params in (3, 60):
        figures = study_plots(_study(params), pareto=False)
        heights[params] = figures["param_importances.png"].get_size_inches()[1]
        for figure in figures.values():
            close_figure(figure)
    assert heights[3] == 5.0 and heights[60] >= 0.25 * 60
