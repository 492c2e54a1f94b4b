"""Nodes of the model_setup pipeline: model references -> plain HF checkpoints."""

from __future__ import annotations

import copy
import logging

import torch
from transformers import AutoModelForCausalLM

from openmath_kedro.datasets.model_directory import LoadedModel
from openmath_kedro.params import ModelSetupParams

logger = logging.getLogger(__name__)


def build_plain_checkpoint(source: LoadedModel, settings: ModelSetupParams) -> LoadedModel:
    """Rebuild the model as a plain (unquantized) transformers model in the configured dtype.

    A model loaded from GGUF is dequantized but still marked as quantized, and then cannot be saved
    in a form vLLM accepts, nor trained; rebuilding it from its config and state dict fixes both.
    """
    dtype = getattr(torch, settings.dtype)
    config = copy.deepcopy(source.model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(source.model).__name__]
    plain = AutoModelForCausalLM.from_config(config, dtype=dtype)
    plain.load_state_dict(source.model.state_dict(), strict=True)
    plain.generation_config = copy.deepcopy(source.model.generation_config)
    plain.eval()
    parameters = sum(p.numel() for p in plain.parameters())
    logger.info("%s: %.1fM parameters, saved as %s", type(plain).__name__, parameters / 1e6, settings.dtype)
    return LoadedModel(
        model=plain,
        tokenizer=source.tokenizer,
        source={**source.source, "dtype": settings.dtype, "parameters": parameters},
    )
