"""ML Katas: the dojo engine (catalog, scheduling, progress store, pytest plugin, CLI).

Nothing in this package imports torch at module level: `dojo list` and friends must stay fast.
"""

__version__ = "0.1.0"
