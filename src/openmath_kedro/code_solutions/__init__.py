"""The modular pipeline that turns problems into code-interpreter solutions, shared by generation and evaluation.

``code_solutions_pipeline`` instantiates it under a namespace (``generation.gsm8k``,
``evaluation.base.gsm8k.greedy``): mask reference solutions where the prompt needs them, generate in
resumable chunks (kill -9 safe, batched across chunks), merge the chunks into one table. ``grade_solutions``
adds the grader's verdicts. It lives outside ``pipelines/`` because pipelines may not import each other.
"""

from .grading import grade_solutions
from .pipeline import code_solutions_pipeline

__all__ = ["code_solutions_pipeline", "grade_solutions"]
