"""Packaging beyond pyproject.toml: the reference data and the migrations ship inside the
package (as `app.seed_data` and `app.migrations`), so an installed `hrc-digest` finds them
from any folder. The folders stay at the top level of the repository (see DESIGN.md)."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["app*"]), "app.seed_data", "app.migrations"],
    package_dir={"app.seed_data": "seed_data", "app.migrations": "migrations"},
    package_data={"app.seed_data": ["*.toml", "*.txt", "rules/*.toml"],
                  "app.migrations": ["script.py.mako", "versions/*.py"]},
)
