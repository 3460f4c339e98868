"""gtkit's compiled parts (everything else is in pyproject.toml): gtkit._scan reads
object-detection lines, gtkit._match matches objects to references by file name. Both are
optional: where they cannot be built, gtkit installs without them and does the same in Python,
more slowly."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gtkit._scan", ["gtkit/_scan.c"], optional=True),
        Extension("gtkit._match", ["gtkit/_match.c"], optional=True),
    ]
)
