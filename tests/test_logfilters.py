"""The console is spared library messages that say nothing to a user; others still come through."""
from __future__ import annotations

import logging


def test_library_noise_is_filtered_on_the_emitting_loggers(caplog):
    caplog.set_level(logging.WARNING)
    logging.getLogger("weasyprint").warning('Using fontTools instead of HarfBuzz-Subset for font "%s".', "Noto")
    logging.getLogger("weasyprint").warning("Ignored `cursor: pointer` at 162:3, the property does not apply.")
    logging.getLogger("fontTools.subset").warning("%s NOT subset; don't know how to subset; dropped", "FFTM")
    logging.getLogger("weasyprint").warning("Failed to load image at %s", "static/x.png")
    logging.getLogger("fontTools.subset").warning("something else")
    logging.getLogger("kombu.connection").warning("No hostname was supplied. Reverting to default 'localhost'")
    logging.getLogger("kombu.connection").warning("Connection refused")
    assert [r.getMessage() for r in caplog.records] == ["Failed to load image at static/x.png", "something else",
                                                        "Connection refused"]
