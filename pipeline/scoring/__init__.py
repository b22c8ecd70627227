"""Scoring administration: versions and their diff, the what-if preview, calibration from
reviewer outcomes, and re-scoring the drafts that wait. The review app's scoring pages call
these; nothing here calls Claude: stored classifications, enrichments and judgements are reused.
"""
