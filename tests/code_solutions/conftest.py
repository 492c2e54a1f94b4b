"""The engine double of the code_solutions tests: it answers from the prompt and seed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from openmath_kedro.code_solutions import nodes
from openmath_kedro.engines.base import Completion, GenerationRequest
from openmath_kedro.runs.resources import close_shared_resources


class EchoEngine:
    """Completes every request with text derived from its prompt and seed (so sharding cannot change it).

    A prompt ending in the masking prompt's "Masked solution:" is a masking request: it gets ``mask_reply``.
    """

    name = "echo"
    model = "echo"

    def __init__(self, mask_reply: str = "") -> None:
        self.batches: list[list[GenerationRequest]] = []
        self.mask_reply = mask_reply

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        self.batches.append(list(requests))
        completions = []
        for request in requests:
            if "Masked solution:" in request.prompt[-40:]:
                completions.append(Completion(text=self.mask_reply, finish_reason="stop", tokens_out=5))
                continue
            digest = hashlib.sha256(f"{request.prompt}|{request.sampling.seed}".encode()).hexdigest()[:8]
            completions.append(
                Completion(
                    text=f" answer {digest} \\boxed{{1}}", finish_reason="stop", tokens_in=9, tokens_out=4
                )
            )
        return completions

    def close(self) -> None:
        pass


@pytest.fixture
def engine(monkeypatch) -> EchoEngine:
    double = EchoEngine()
    monkeypatch.setattr(nodes, "shared_engine", lambda settings: double)
    yield double
    close_shared_resources()  # the sandbox pool the nodes started
