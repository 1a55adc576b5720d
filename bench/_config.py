"""Measurement: scrubbing a 200-key training config at the strict level (the ``config-loaded``
event, the largest thing the privacy stage sees once per run).

The config is Axolotl-shaped: 200 top-level keys (numbers, booleans, option values, model and
dataset ids, paths, tracker settings, a datasets list, free-text notes, a few secrets and an
argv list), about what a real ``axolotl train`` config holds with its defaults filled in.

Three figures, each a median over repetitions:

* ``load``: importing the rules and loading detector, vocabulary and schemas (``Scrubber()``
  does it once, when a destination is built);
* ``cold``: the first scrub after that, in a fresh process (no cache warm);
* ``distinct``: every repetition scrubs a config whose string values are all new (a fresh
  suffix each time), so no per-value cache helps: the worst case of a steady process;
* ``repeat``: the same config again (what a sweep re-sending configs costs).

Usage: python bench/_config.py --reps 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import emit

OPTIONS = ("adamw_torch_fused", "cosine", "bf16", "lora", "chat_template", "alpaca", "auto", "sdpa")


def config(suffix: str) -> dict[str, Any]:
    """A 200-key config; ``suffix`` makes every free string value distinct."""
    cfg: dict[str, Any] = {
        "base_model": "meta-llama/Llama-3.1-8B",
        "tokenizer_config": f"alice{suffix}/tokenizer",
        "hub_model_id": f"alice{suffix}/finetune",
        "output_dir": f"/home/alice/runs/{suffix}/out",
        "dataset_prepared_path": f"/home/alice/cache/{suffix}",
        "hf_token": "hf_" + "aB3" * 12,
        "wandb_api_key": "0123456789abcdef0123456789abcdef01234567",
        "wandb_project": f"proj-{suffix}",
        "notes": f"sweep {suffix}: lr warmup then cosine decay on the new data from bob at gpu-node-7",
        "datasets": [
            {"path": "HuggingFaceTB/smoltalk", "type": "chat_template", "split": "train"},
            {"path": f"/data/{suffix}/train.jsonl", "type": "alpaca"},
        ],
        "argv": ["train.py", "--hf_token", "hf_" + "Zz9" * 12, "--lr", "0.0002", f"--run-name={suffix}"],
    }
    i = 0
    while len(cfg) < 200:
        kind = i % 5
        if kind == 0:
            cfg[f"learning_rate_{i}"] = 2e-4 * (i + 1)
        elif kind == 1:
            cfg[f"micro_batch_size_{i}"] = i
        elif kind == 2:
            cfg[f"sample_packing_{i}"] = bool(i % 2)
        elif kind == 3:
            cfg[f"optimizer_{i}"] = OPTIONS[i % len(OPTIONS)]
        else:
            cfg[f"eval_steps_{i}"] = f"{i}{suffix}"  # a string value no cache has seen
        i += 1
    return cfg


def timed(scrub: Any, value: dict[str, Any]) -> float:
    started = time.perf_counter()
    scrub(value)
    return (time.perf_counter() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=30)
    options = parser.parse_args()

    started = time.perf_counter()
    from otel_axolotl.privacy.detector import load
    from otel_axolotl.privacy.tree import scrub_tree
    from otel_axolotl.privacy.values import Level
    from otel_axolotl.privacy.vocabulary import vocabulary
    from otel_axolotl.privacy.whitelist import Whitelist

    whitelist = Whitelist.load()
    load()  # what Scrubber() does when a destination is built: detector rules, vocabulary, schemas
    vocabulary()
    load_ms = (time.perf_counter() - started) * 1e3

    def scrub(value: dict[str, Any]) -> Any:
        return scrub_tree(value, level=Level.STRICT, whitelist=whitelist)

    cold = timed(scrub, config("cold"))
    distinct = [timed(scrub, config(f"r{n}x{n * 7919}")) for n in range(options.reps)]
    same = config("same")
    scrub(same)
    repeat = [timed(scrub, same) for _ in range(options.reps)]
    assert len(same) == 200
    emit(
        {
            "load_ms": load_ms,
            "cold_ms": cold,
            "distinct_ms": distinct,
            "repeat_ms": repeat,
            "median_distinct_ms": statistics.median(distinct),
            "keys": len(same),
        }
    )


if __name__ == "__main__":
    main()
