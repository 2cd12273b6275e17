"""WCAG 2.1 contrast ratio (relative luminance, sRGB) for tests of colours we choose."""
from __future__ import annotations


def _channel(c: float) -> float:
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str | tuple) -> float:
    if isinstance(colour, str):
        colour = tuple(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    r, g, b = (_channel(c / 255) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a, b) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def over_white(rgb: tuple, alpha: float) -> tuple:
    """An rgba colour as painted on a white page."""
    return tuple(round(c * alpha + 255 * (1 - alpha)) for c in rgb)
