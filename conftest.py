"""Root pytest configuration: what doctest collection must skip."""

collect_ignore = ["gtkit/__main__.py"]
