"""The lead pipeline app: models, intake, the engine, the agents, integrations and the API.

Subpackages own one idea each and say in their own docstring what they must not import; the
import-linter contracts in pyproject.toml (run by `make lint`) check the boundaries: the engine
knows nothing of leads, the agents touch neither the ORM nor integrations nor Django, and no
production code imports tests.
"""
