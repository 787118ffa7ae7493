# The dojo engine lives in an importable package; this file only switches it on.
pytest_plugins = ["dojo.plugin"]
