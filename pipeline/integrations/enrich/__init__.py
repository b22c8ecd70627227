"""Company enrichment from a lead's website and email domain: reading the outside world.

Modules: `targets` (which domain), `addresses` (SSRF checks), `fetch` (the pinned, budgeted
fetcher), `extract` + `fingerprints` + `vocab` (reading pages), `providers` (web, Apollo). The
pipeline side (`pipeline.enrichment`) runs them around the agent and keeps the domain cache.
"""
