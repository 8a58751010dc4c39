"""The Alembic migrations, shipped inside the package as `app.migrations` (see setup.py)."""
