"""Project settings (Kedro defaults unless stated)."""

from kedro.config import OmegaConfigLoader

from openmath_kedro.hooks import ParameterValidationHooks

HOOKS = (ParameterValidationHooks(),)

# Telemetry stays off for this project (also recorded in .telemetry and the Makefile).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
