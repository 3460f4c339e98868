"""The compiled reader of object-detection lines, gtkit._scan (everything else is in
pyproject.toml). It is optional: where it cannot be built, gtkit installs without it and reads
the same lines in Python, more slowly."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gtkit._scan", ["gtkit/_scan.c"], optional=True)])
