"""Project settings (Kedro defaults unless stated)."""

import warnings

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from openmath_kedro.hooks import ParameterValidationHooks, ProvenanceHooks, SharedResourceHooks
from openmath_kedro.runs.provenance import KeyedDataCatalog

HOOKS = (ParameterValidationHooks(), SharedResourceHooks(), ProvenanceHooks())

# Kedro's catalog, except that an output made from other inputs than the current ones counts as missing for
# `kedro run --only-missing-outputs` (runs/provenance.py).
DATA_CATALOG_CLASS = KeyedDataCatalog

# Kedro 1.7's config loader calls an OmegaConf API that OmegaConf now flags as deprecated; the warning is
# Kedro's to fix and only clutters every run's output.
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
# Nodes of one benchmark namespace read the datasets of another pipeline's namespace
# (generation.gsm8k <- data_preparation.gsm8k.train_problems): that is the project's naming
# (docs/architecture.md §1), and Kedro's "dataset names contain '.'" warning about it says nothing actionable.
warnings.filterwarnings("ignore", message=r"One or more dataset names contain '\.'", category=UserWarning)

# Telemetry stays off for this project (also recorded in .telemetry and the Makefile).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-telemetry",)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments (conf/local, --env gpu) and --params override keys, not whole blocks: with the default
    # destructive merge, `finetuning: {seed: 1}` in conf/local would drop every other finetuning setting.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
    # ${oc.env:NAME,default} everywhere, not only in credentials: `--env gpu` does not read conf/local, so
    # conf/gpu/globals.yml takes the model paths from the environment.
    "custom_resolvers": {"oc.env": oc.env},
}
