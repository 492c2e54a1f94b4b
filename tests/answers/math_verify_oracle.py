"""math-verify as a differential oracle (a test dependency, pinned in requirements.lock).

Used the documented way, ``verify(parse(gold), parse(answer))``, with its own extraction: a whole response
is passed as it is; an answer that is already extracted is passed boxed, as math-verify expects a final
answer to be marked. Any exception counts as "not equivalent", as for our grader.
"""

from __future__ import annotations

import logging


def math_verify_equivalent(prediction: str, gold: str, *, is_full_response: bool) -> bool:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # it logs every parse timeout with the input
    try:
        answer = parse(prediction if is_full_response else f"\\boxed{{{prediction}}}")
        return bool(verify(parse(f"${gold}$"), answer))
    except Exception:  # noqa: BLE001 - a crash is a "no" verdict, as for our grader
        return False
