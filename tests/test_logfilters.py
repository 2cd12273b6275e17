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


def test_the_development_server_logs_requests_but_not_progress_polls(caplog):
    from django.core.servers.basehttp import WSGIRequestHandler
    from django.utils.log import ServerFormatter

    server_log = logging.getLogger("django.server")
    # Its own handler, as Django configures it, still prints what passes the filter.
    assert any(isinstance(h.formatter, ServerFormatter) for h in server_log.handlers)
    request_handler = WSGIRequestHandler.__new__(WSGIRequestHandler)  # log_message needs no socket
    request_handler.request = None
    server_log.addHandler(caplog.handler)  # the logger does not propagate to caplog's root handler
    try:
        for line, status in [("GET /audits/7/progress/ HTTP/1.1", "200"), ("GET /demo/progress/?since=3 HTTP/1.1", "200"),
                             ("GET /mitigations/2/progress/ HTTP/1.1", "200"), ("GET /audits/7/progress/ HTTP/1.1", "500"),
                             ("GET /audits/7/ HTTP/1.1", "200"), ("POST /audits/new/ HTTP/1.1", "302")]:
            request_handler.log_message('"%s" %s %s', line, status, "120")
    finally:
        server_log.removeHandler(caplog.handler)
    assert [r.getMessage() for r in caplog.records] == [
        '"GET /audits/7/progress/ HTTP/1.1" 500 120', '"GET /audits/7/ HTTP/1.1" 200 120',
        '"POST /audits/new/ HTTP/1.1" 302 120']
