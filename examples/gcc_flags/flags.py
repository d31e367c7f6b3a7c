"""The GCC flag search space and how a configuration becomes a command line."""

from __future__ import annotations

import compileiq.search_spaces.base as ss

SEARCH_SPACE = {
    "opt": ss.choice(["-O1", "-O2", "-O3", "-Os"]),
    "march": ss.literal("-march=native", knockout_prob=0.5),
    "vectorize": ss.choice(["-ftree-vectorize", "-fno-tree-vectorize"]),
    "vect_cost_model": ss.choice(["cheap", "dynamic", "unlimited"]),
    "unroll": ss.literal("-funroll-loops", knockout_prob=0.5),
    "max_unroll_times": ss.range(2, 16, 2),
    "peel": ss.literal("-fpeel-loops", knockout_prob=0.5),
    "align_loops": ss.choice([1, 16, 32, 64]),
    "align_functions": ss.choice([1, 16, 32, 64]),
    "prefetch": ss.literal("-fprefetch-loop-arrays", knockout_prob=0.5),
    "ipa_pta": ss.literal("-fipa-pta", knockout_prob=0.5),
    "no_math_errno": ss.literal("-fno-math-errno", knockout_prob=0.5),
    "associative_math": ss.literal("-fassociative-math -fno-signed-zeros -fno-trapping-math", knockout_prob=0.5),
    "fast_math": ss.literal("-ffast-math", knockout_prob=0.7),
    "omit_frame_pointer": ss.literal("-fomit-frame-pointer", knockout_prob=0.5),
}

BASELINE_FLAGS = ["-O2"]


def command_flags(config: dict) -> list[str]:
    """Compiler flags for a configuration; the empty baseline config means plain -O2."""
    if not config:
        return list(BASELINE_FLAGS)
    flags = [config.get("opt", "-O2")]
    for key in ("march", "vectorize", "peel", "prefetch", "ipa_pta", "no_math_errno", "associative_math",
                "fast_math", "omit_frame_pointer"):
        if key in config:
            flags += config[key].split()
    if "vect_cost_model" in config:
        flags.append(f"-fvect-cost-model={config['vect_cost_model']}")
    if "unroll" in config:
        flags.append(config["unroll"])
        if "max_unroll_times" in config:
            flags += ["--param", f"max-unroll-times={config['max_unroll_times']}"]
    if "align_loops" in config:
        flags.append(f"-falign-loops={config['align_loops']}")
    if "align_functions" in config:
        flags.append(f"-falign-functions={config['align_functions']}")
    return flags
