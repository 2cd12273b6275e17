"""Token and word units shared by every explainer, on token ids only.

Explainers attribute to different units: SHAP, IG and attention to the model's own
tokens (word pieces), LIME to the words of the raw text. To compare them, rank them or
aggregate them, everything is brought back to one unit, the word as the tokenizer sees
it: a run of pieces where all but the first are continuations ("play", "##ing" for
WordPiece; SentencePiece and byte-level BPE mark word starts instead). Special tokens
([CLS], [SEP], padding) are never units: no explainer perturbs them.
"""
from __future__ import annotations

from collections.abc import Sequence

import runtime

Span = tuple[int, int]

# Word-start markers of SentencePiece ("▁") and byte-level BPE ("Ġ") vocabularies.
_START_MARKERS = ("\u2581", "\u0120")


def special_ids(tokenizer) -> frozenset[int]:
    return frozenset(int(i) for i in tokenizer.all_special_ids)


def token_units(tokenizer, ids: Sequence[int]) -> tuple[list[str], list[Span]]:
    """The non-special tokens of `ids` with their one-position spans."""
    specials = special_ids(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    tokens, spans = [], []
    for position, (token_id, piece) in enumerate(zip(ids, pieces, strict=True)):
        if int(token_id) not in specials:
            tokens.append(piece)
            spans.append((position, position + 1))
    return tokens, spans


def word_units(tokenizer, ids: Sequence[int]) -> tuple[list[str], list[Span]]:
    """Words of `ids` (pieces merged) and the [start, end) positions of each."""
    specials = special_ids(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    continues = continuation_rule(tokenizer, pieces)
    spans: list[list[int]] = []
    previous_special = True
    for position, (token_id, piece) in enumerate(zip(ids, pieces, strict=True)):
        if int(token_id) in specials:
            previous_special = True
            continue
        if spans and not previous_special and continues(piece):
            spans[-1][1] = position + 1
        else:
            spans.append([position, position + 1])
        previous_special = False
    words = [tokenizer.convert_tokens_to_string(pieces[a:b]).strip() or pieces[a] for a, b in spans]
    return words, [(a, b) for a, b in spans]


def continuation_prefix(tokenizer) -> str | None:
    """WordPiece's continuation marker ("##"), None for vocabularies that mark word starts."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return getattr(getattr(backend, "model", None), "continuing_subword_prefix", None)


def continuation_rule(tokenizer, pieces: Sequence[str]):
    """A predicate: does this piece continue the previous word?"""
    prefix = continuation_prefix(tokenizer)
    if prefix:  # WordPiece marks continuations
        return lambda piece: piece.startswith(prefix)
    if any(piece.startswith(_START_MARKERS) for piece in pieces):
        return lambda piece: not piece.startswith(_START_MARKERS)
    # A vocabulary with neither convention: every token is its own word.
    return lambda piece: False


def max_length(loaded: runtime.LoadedModel) -> int:
    # The same limit as runtime.tokenize, so offsets line up with the ids it returns.
    return loaded.max_length


def encode_with_offsets(loaded: runtime.LoadedModel, text: str) -> tuple[list[int], list[Span]]:
    """Token ids exactly as runtime.tokenize makes them, plus each token's character span
    (for a prompted classifier, the text slot's tokens and their spans in the text)."""
    ids, spans = runtime.tokenize_with_offsets(loaded, text)
    if ids != runtime.tokenize(loaded, [text])[0]:
        raise RuntimeError("The tokenizer's offsets do not match the runtime's token ids.")
    return ids, [(int(a), int(b)) for a, b in spans]
