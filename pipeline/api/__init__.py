"""The JSON API for integrators, /api/v1/ (django-ninja): tokens, schemas, endpoints."""
