"""The inspector: ``kedro inspect`` (or ``openmath-kedro inspect``), a local web app on the project's catalog.

- ``app``: the Dash app (Analyze and Inference pages);
- ``project``: the KedroSession the app reads and writes through (datasets, labels, configured engines);
- ``tables``: generations-shaped tables as polars frames, per-problem statistics, filters, server-side pages;
- ``custom_stats`` / ``stats_worker``: user-written statistics, checked and run in a time-limited process;
- ``render``: solutions as prose with LaTeX, highlighted code and sandbox outputs;
- ``inference``: one problem through the code-interpreter loop, in an inference process, streamed to the page;
- ``cli``: the ``inspect`` command. See docs/inspector.md.
"""
