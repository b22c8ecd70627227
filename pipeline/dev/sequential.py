"""The lead pipeline with its steps one after another: what bench_pipeline compares against.

Same steps, same functions, conditions and retry policies as `pipeline.pipelines.LEAD`; each
step also needs the step before it, so nothing runs in parallel. Workers load it through
ENGINE_PIPELINE_MODULES=pipeline.dev.sequential (bench_pipeline sets that for its cluster).
"""

from dataclasses import replace

from pipeline.engine import Pipeline, register
from pipeline.pipelines import LEAD


def one_after_another(pipeline: Pipeline, name: str) -> Pipeline:
    steps = []
    previous = None
    for step in pipeline.steps:
        needs = step.needs if previous is None else tuple(dict.fromkeys((*step.needs, previous)))
        steps.append(replace(step, needs=needs))
        previous = step.name
    return Pipeline(name, version=pipeline.version, steps=tuple(steps), related=pipeline.related)


SEQUENTIAL_LEAD = register(one_after_another(LEAD, "lead-sequential"))
