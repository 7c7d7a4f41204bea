"""Ship the top-level migrations/ inside the package, so `pip install .` can run `monitor db upgrade`."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["monitor*"]), "monitor.migrations", "monitor.migrations.versions"],
    package_dir={"monitor.migrations": "migrations"},
)
