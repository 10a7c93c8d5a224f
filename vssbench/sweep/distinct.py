"""Optuna samplers whose every trial is a configuration its study has not had yet.

hydra-optuna-sweeper 1.3 counts every `study.ask()` as one of its `n_trials` whatever the job
returns, and NSGA-II's crossover over a small discrete space proposes configurations it already
has (8 of 24 trials in a 72-configuration study): run again they are skipped through MLflow,
count as trials and put a configuration twice on the Pareto list. The sweeper only instantiates
plugins from the `hydra_plugins` package, but its sampler is any `_target_`, so the sampler is
where repeats are refused: it draws again, as NSGA-II variants with duplicate elimination do.
"""

import logging
import random
from collections.abc import Iterator
from itertools import combinations, product
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntUniformDistribution
from optuna.samplers import NSGAIISampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial

log = logging.getLogger("vssbench")

# Draws before the sampler's proposal is changed by the fewest params to one not run yet. NSGA-II
# draws anew each time (a repeat about 1 time in 3 in the 72-configuration study); TPE over
# categorical params does not: it takes each param's best ratio of its 24 candidates, so its
# draws of one trial are all the same configuration.
MAX_DRAWS = 20
# Each trial's configuration from the moment it is chosen: with the sweeper's n_jobs > 1 the
# trials of a batch are all asked before any of them is given its params.
CHOSEN_KEY = "vssbench:configuration"

Key = tuple[tuple[str, Any], ...]


class DistinctConfigurations:
    """Mixin before an Optuna sampler: a trial's whole configuration is drawn up front (the
    sampler's relative params, its independent draws for the rest) and drawn again while the
    study already has it. The first trial, with no search space known yet, is the sampler's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fallback = random.Random(kwargs.get("seed"))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """The sampler's own relative space and every distribution the study's trials used."""
        space = dict(super().infer_relative_search_space(study, trial))
        for other in study.get_trials(deepcopy=False):
            for name, distribution in other.distributions.items():
                space.setdefault(name, distribution)
        return space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:  # the first trial: nothing to repeat
            return super().sample_relative(study, trial, search_space)
        seen = _seen(study, trial, sorted(search_space))
        config, draws = self._draw(study, trial, search_space), 1
        while _key(config, search_space) in seen and draws < MAX_DRAWS:
            config, draws = self._draw(study, trial, search_space), draws + 1
        if _key(config, search_space) in seen:
            config = self._nearest_unseen(trial.number, config, search_space, seen) or config
        elif draws > 1:
            log.info("trial %d: %d draws for a configuration not run yet", trial.number, draws)
        study._storage.set_trial_system_attr(trial._trial_id, CHOSEN_KEY, config)
        return config

    def _draw(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """One configuration as the sampler would make it, param by param."""
        relative = super().sample_relative(
            study, trial, super().infer_relative_search_space(study, trial)
        )
        # The trial again, with what that stored on it (NSGA-II: the parents).
        fresh = study._storage.get_trial(trial._trial_id)
        independent = super().sample_independent
        return {
            name: relative[name] if name in relative else independent(study, fresh, name, dist)
            for name, dist in search_space.items()
        }

    def _nearest_unseen(
        self,
        number: int,
        config: dict[str, Any],
        search_space: dict[str, BaseDistribution],
        seen: set[Key],
    ) -> dict | None:
        """A configuration not run yet that changes fewest params of the sampler's `config`
        (at random among those); None when every one has run or the space is not finite: the
        sampler's draw then runs again, and the log says so."""
        choices = {name: _choices(dist) for name, dist in search_space.items()}
        finite = all(values is not None for values in choices.values())
        for changed in range(1, len(choices) + 1 if finite else 1):
            shell = [c for c in _shell(config, choices, changed) if _key(c, choices) not in seen]
            if shell:
                log.info(
                    "trial %d: %d draws repeated configurations: %d param(s) changed instead",
                    number,
                    MAX_DRAWS,
                    changed,
                )
                return self._fallback.choice(shell)
        log.warning(
            "trial %d: the sampler proposed only configurations already run and %s: one runs again",
            number,
            "the search space has no other" if finite else "its space is not finite",
        )
        return None


class DistinctNSGAIISampler(DistinctConfigurations, NSGAIISampler):
    """NSGA-II (optuna 2.10) without repeated configurations."""


class DistinctTPESampler(DistinctConfigurations, TPESampler):
    """TPE (optuna 2.10) without repeated configurations."""


def _key(config: dict[str, Any], names: Any) -> Key:
    return tuple((name, config.get(name)) for name in sorted(names))


def _seen(study: Study, trial: FrozenTrial, names: list[str]) -> set[Key]:
    """The configurations of the study's other trials, whatever their state: a disturbed one
    run again is skipped with the same timings, and a failed one is redone when the sweep is
    run again."""
    return {
        _key(_configuration(other, names), names)
        for other in study.get_trials(deepcopy=False)
        if other.number != trial.number
    }


def _configuration(trial: FrozenTrial, names: list[str]) -> dict[str, Any]:
    """Its params once it has them all, else what this sampler chose for it."""
    if set(names) <= trial.params.keys():
        return trial.params
    return trial.system_attrs.get(CHOSEN_KEY, trial.params)


def _shell(config: dict[str, Any], choices: dict[str, list], changed: int) -> Iterator[dict]:
    """The configurations that differ from `config` in exactly `changed` params; enumerated
    shell by shell, so a large space is never listed whole."""
    for names in combinations(sorted(choices), changed):
        others = [[v for v in choices[name] if v != config[name]] for name in names]
        for values in product(*others):
            yield {**config, **dict(zip(names, values, strict=True))}


def _choices(distribution: BaseDistribution) -> list | None:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    if isinstance(distribution, IntUniformDistribution):
        return list(range(distribution.low, distribution.high + 1, distribution.step))
    return None
