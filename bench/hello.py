"""The benchmark's yardstick: a bare Flask app answering "hello", served by gunicorn with the
market's own settings (`gunicorn -c gunicorn.conf.py 'bench.hello:create_app()'`)."""
from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.get("/")
    def hello():
        return "hello"

    return app
