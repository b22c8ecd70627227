"""Pipelines by name: filled when Django starts, never by importing a name read from the database.

Every installed app's `pipelines` module is imported by autodiscover() (called from the pipeline
app's ready()), plus the modules the ENGINE_PIPELINE_MODULES setting lists (test and benchmark
pipelines). Each module calls register() for its pipelines. A run stores its pipeline's name;
a name nobody registered is an error, not an import.
"""

from __future__ import annotations

import importlib

from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from pipeline.engine.definitions import Pipeline, PipelineDefinitionError

_REGISTRY: dict[str, Pipeline] = {}


def register(pipeline: Pipeline) -> Pipeline:
    """Make `pipeline` runnable under its name. Registering another one under a taken name fails."""
    registered = _REGISTRY.setdefault(pipeline.name, pipeline)
    if registered is not pipeline:
        raise PipelineDefinitionError(f"a pipeline called {pipeline.name!r} is already registered")
    return pipeline


def related_rows() -> tuple[str, ...]:
    """Every registered pipeline's related rows: what a hop loads with a step in one query.

    A worker learns the step's pipeline from the row it loads, so it loads the union.
    """
    return tuple(sorted({name for pipeline in _REGISTRY.values() for name in pipeline.related}))


def get_pipeline(name: str) -> Pipeline:
    """The registered pipeline called `name`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise PipelineDefinitionError(
            f"no pipeline called {name!r} is registered (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def autodiscover() -> None:
    """Import every installed app's `pipelines` module and the configured extra modules."""
    autodiscover_modules("pipelines")
    for module in settings.ENGINE_PIPELINE_MODULES:
        importlib.import_module(module)
