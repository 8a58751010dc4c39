"""Reference data shipped inside the package as `app.seed_data` (see setup.py)."""
