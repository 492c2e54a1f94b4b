"""``sdg`` (synthetic data generation): generation + grading + filtering as one pipeline, no nodes of its own."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
