"""What makes a run reusable and trustworthy: keys of finished work, provenance records, shared engines and
sandboxes, and the report of what has been produced (``python -m openmath_kedro.runs.outputs``).

``keys`` and ``resources`` are Kedro-free (the core libraries and ``code_solutions`` use them); ``provenance``
and ``outputs`` work on Kedro's catalog and pipelines. docs/runs.md explains how the keys decide what runs.
"""
