#!/usr/bin/env python3
"""moto server with DynamoDB's atomicity: every request is handled under one lock.

DynamoDB applies each UpdateItem atomically; moto's threaded server does not (two
concurrent list_append updates of one item can lose one). Serialising requests gives
the emulator the guarantee the real service has, so concurrency tests exercise the
adapter (one conditional UpdateItem per append, no read-modify-write) rather than
moto's races. Usage: moto-server.py HOST PORT
"""
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    with lock:
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["args"] = (status, headers, exc_info)

        body = b"".join(app(environ, capture))
    status, headers, exc_info = captured["args"]
    start_response(status, headers, exc_info)
    return [body]


if __name__ == "__main__":
    run_simple(sys.argv[1], int(sys.argv[2]), serialised, threaded=True)
