"""The audit API (FastAPI): findings with their trails, lifecycle actions, summary, tokens.

``create_app`` is in audit/api/app.py; this package module imports nothing, so that a route
importing audit/api/deps.py does not pull the application (and every route) in through it.
"""
