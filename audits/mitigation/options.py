"""Mitigation settings: defaults and validation shared by the service, the web form and the CLI."""
from __future__ import annotations

import math

METHODS = ("adversarial", "reweighing", "threshold", "balancing")
GOALS = ("demographic_parity", "equalised_odds")
ADVERSARY_INPUTS = ("logit", "sigmoid")

OPTION_DEFAULTS: dict = {
    "goal": "demographic_parity",
    "adversary_weight": 1.0,
    "epochs": 30,
    "unfreeze_layers": 0,
    # 0.003 with lr_decay 0.3: the head alone moved too little at 1e-3 with the paper's 1/t
    # decay (the planted synthetic case kept |SPD| 0.28-0.34 of 0.52; 0.016 with these).
    "learning_rate": 3e-3,
    "sweep": [0.0, 0.1, 0.3, 1.0, 3.0],
    "held_out": 0.3,
    "batch_size": 64,
    # Largest accuracy loss (absolute, held-out) a recommended setting may cost.
    "accuracy_budget": 0.02,
    # What the adversary reads: the predictor's favourable logit scaled by the spread of the
    # parent's logits ("logit"), or the paper's sigmoid of it ("sigmoid"), which is flat
    # where a fine-tuned parent's logits are (adversarial.Adversary).
    "adversary_input": "logit",
    # The adversary's updates per batch, before each of the predictor's (adversarial.train_predictor).
    "adversary_steps": 10,
    # Adam's beta1 for every fit: 0 (no momentum) keeps the adversarial game from overshooting.
    "momentum": 0.0,
    # Epoch t trains at learning_rate / (1 + lr_decay * t): 1 is the paper's 1/t, 0 none.
    "lr_decay": 0.3,
    # Decoder models with unfreeze_layers > 0: low-rank adapters of this rank on the top
    # layers' linear maps (merged into the saved weights); 0 unfreezes those layers whole.
    "lora_rank": 8,
    # L2 penalty on the adversary's weights while refitted (adversarial.train_predictor); 0 none.
    "adversary_l2": 0.0,
    # Share of the training rows set aside to choose each fit's epoch (select.EpochKeeper);
    # 0: the epoch is chosen on the training rows themselves.
    "validation": 0.2,
    # The sweep as a continuation: each weight, in increasing order, starts from the model
    # kept at the weight before it (the first from retraining without a method).
    "warm_start": True,
}


def _number(options: dict, name: str, *, low: float, high: float | None = None,
            integer: bool = False, low_open: bool = False) -> float | int:
    value = options[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"Option '{name}' must be a number, not {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"Option '{name}' must be a number, not {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"Option '{name}' must be a finite number, not {value!r}.")
    if integer:
        if number != int(number):
            raise ValueError(f"Option '{name}' must be a whole number, not {value!r}.")
        number = int(number)
    too_low = number <= low if low_open else number < low
    if too_low or (high is not None and number > high):
        bound = f"more than {low:g}" if low_open else f"at least {low:g}"
        upper = f" and at most {high:g}" if high is not None else ""
        raise ValueError(f"Option '{name}' must be {bound}{upper}; got {value!r}.")
    return number


def _flag(options: dict, name: str) -> bool:
    value = options[name]
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ValueError(f"Option '{name}' must be true or false, not {value!r}.")


def options_validate(method: str, options: dict | None) -> dict:
    """The cleaned options (defaults filled in), or ValueError naming the bad option."""
    if method not in METHODS:
        raise ValueError(f"Unknown mitigation method {method!r}; choose one of {', '.join(METHODS)}.")
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown option(s): {', '.join(unknown)}. Known: {', '.join(OPTION_DEFAULTS)}.")
    merged = {**OPTION_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    goal = merged["goal"]
    # Both spellings are common; the report uses the British one.
    if goal == "equalized_odds":
        goal = "equalised_odds"
    if goal not in GOALS:
        raise ValueError(f"Option 'goal' must be one of {', '.join(GOALS)}; got {goal!r}.")
    cleaned = {
        "goal": goal,
        "adversary_weight": float(_number(merged, "adversary_weight", low=0)),
        "epochs": _number(merged, "epochs", low=1, high=1000, integer=True),
        "unfreeze_layers": _number(merged, "unfreeze_layers", low=0, high=100, integer=True),
        "learning_rate": float(_number(merged, "learning_rate", low=0, high=1, low_open=True)),
        "held_out": float(_number(merged, "held_out", low=0, high=0.9, low_open=True)),
        "batch_size": _number(merged, "batch_size", low=1, high=4096, integer=True),
        "accuracy_budget": float(_number(merged, "accuracy_budget", low=0, high=1)),
        "adversary_steps": _number(merged, "adversary_steps", low=1, high=1000, integer=True),
        "momentum": float(_number(merged, "momentum", low=0, high=0.999)),
        "lr_decay": float(_number(merged, "lr_decay", low=0, high=100)),
        "lora_rank": _number(merged, "lora_rank", low=0, high=256, integer=True),
        "adversary_l2": float(_number(merged, "adversary_l2", low=0, high=100)),
    }
    cleaned["validation"] = float(_number(merged, "validation", low=0, high=0.5))
    cleaned["warm_start"] = _flag(merged, "warm_start")
    if merged["adversary_input"] not in ADVERSARY_INPUTS:
        raise ValueError(f"Option 'adversary_input' must be one of {', '.join(ADVERSARY_INPUTS)}; "
                         f"got {merged['adversary_input']!r}.")
    cleaned["adversary_input"] = merged["adversary_input"]
    sweep = merged["sweep"]
    if isinstance(sweep, str):
        sweep = [part for part in sweep.replace(";", ",").split(",") if part.strip()]
    if not isinstance(sweep, list | tuple) or len(sweep) > 20:
        raise ValueError("Option 'sweep' must be a list of at most 20 adversary weights.")
    weights = []
    for i, weight in enumerate(sweep):
        weights.append(float(_number({f"sweep[{i}]": weight}, f"sweep[{i}]", low=0)))
    cleaned["sweep"] = sorted(set(weights))
    return cleaned
