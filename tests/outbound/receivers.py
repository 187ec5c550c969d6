"""An HTTP endpoint on 127.0.0.1 (a free port) standing in for an app's webhook URL or an
internal service: records each request, and answers as told (status, headers, body, a delay,
or a body trickled out slowly)."""
import threading
import time

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Receiver:
    def __init__(self, ssl_context=None):
        self.received = []  # (path, body, headers, time.monotonic() when it arrived)
        self.status = 200
        self.headers = {}
        self.body = b"ok"
        self.delay = 0.0
        self.trickle = None  # (chunks, seconds between them)
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_Quiet,
                                  ssl_context=ssl_context)
        self.port = self.server.socket.getsockname()[1]
        self.origin = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self.url = self.origin + "/notifications"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        with self.lock:
            self.received.append((request.full_path.rstrip("?"), body, dict(request.headers), time.monotonic()))
        if self.delay:
            time.sleep(self.delay)
        if self.trickle:
            chunks, pause = self.trickle

            def slowly():
                for _ in range(chunks):
                    time.sleep(pause)
                    yield b"x"

            return Response(slowly(), status=self.status, headers=self.headers)(environ, start_response)
        return Response(self.body, status=self.status, headers=self.headers)(environ, start_response)

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


# The fixtures of every test that needs a listening endpoint (tests/outbound, tests/notifications
# import them into their conftest): one receiver, and another for a second app or host.
@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def other_receiver():
    r = Receiver()
    yield r
    r.stop()
