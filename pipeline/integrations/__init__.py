"""The outside world: enrichment fetching (SSRF-safe), CRM adapters, the outbox and email
providers. Each talks to one kind of service; none imports the review app or the agents'
strategy choice; the steps call them.
"""
