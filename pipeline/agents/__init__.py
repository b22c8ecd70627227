"""The specialist agents: classify, enrich (Claude's reading of a site), score, draft, follow-up,
decide; plus the injection, markup and language detectors and the labelled data.

Agents are pure functions of typed inputs (pipeline.schemas) to typed outputs, each with a
`rules` and a `claude` strategy that the calling step chooses. They must not import the ORM
(pipeline.models), integrations, pipeline steps or Django itself (import-linter contracts).
"""
