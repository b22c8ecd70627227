"""The staff web UI: the review queue, leads, runs, dashboard, scoring and follow-up pages.

Views call pipeline.actions (and the scoring and engine control functions) for every change, so
the rules live in one place; the review app is never imported by the pipeline package.
"""
