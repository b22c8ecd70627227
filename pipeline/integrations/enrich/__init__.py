"""Company enrichment from a lead's website and email domain.

The pipeline step calls `cache.enrich_with_cache(lead)`; the agent itself is
`pipeline.agents.enrich.enrich`. Modules: `targets` (which domain), `addresses` (SSRF checks),
`fetch` (the pinned, budgeted fetcher), `extract` + `fingerprints` + `vocab` (reading pages),
`providers` (web, Apollo), `cache` (per-domain cache in the database).
"""
