"""openmath_kedro: the OpenMathInstruct-1 recipe as a Kedro project."""

__version__ = "0.1.0"
