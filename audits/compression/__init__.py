"""Compressed variants of a model: distillation into a smaller student, and the figures
that compare a variant with its parent (plain computation, no Django). The recipes that
need no training data (int8, pruning) live in runtime.compress; the service that makes
and audits variants is audits.services.compressions."""
from runtime.compress import label_agreement, parse_recipes, prune_heads, prune_magnitude, quantize_int8

__all__ = ["label_agreement", "parse_recipes", "prune_heads", "prune_magnitude", "quantize_int8"]
