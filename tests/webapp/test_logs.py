"""Logs: JSON lines (LOG_FORMAT=json) carrying the request's and the Celery task's id."""

import io
import json
import logging

import pytest

from webapp.celery_app import app
from webapp.lib.logs import Context, JsonFormatter


@pytest.fixture
def json_lines():
    """The root logger's records as the JSON handler writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Context())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in out.getvalue().splitlines()]
    root.removeHandler(handler)


def test_each_response_carries_its_request_id_and_its_log_lines_too(client, db, json_lines):
    response = client.get("/no-such-page", headers={"X-Request-ID": "proxy-42"})
    assert response.status_code == 404 and response["X-Request-ID"] == "proxy-42"
    lines = [line for line in json_lines() if "/no-such-page" in line["message"]]
    assert lines and lines[0]["request_id"] == "proxy-42" and lines[0]["level"] == "WARNING"
    assert lines[0]["task_id"] is None and lines[0]["logger"] == "django.request"
    # An id that is not one (a newline, a thousand characters) is replaced, not logged.
    for sent in ("x\ny", "a" * 1000):
        answered = client.get("/livez/..", headers={"X-Request-ID": sent})["X-Request-ID"]
        assert answered != sent and len(answered) == 32
    first, second = (client.get("/no-such-page")["X-Request-ID"] for _ in range(2))
    assert first != second
    logging.getLogger("after").warning("outside any request")
    assert json_lines()[-1]["request_id"] is None


def test_a_tasks_lines_carry_its_id(monkeypatch, json_lines):
    monkeypatch.setitem(app.conf, "task_always_eager", True)

    @app.task(name="tests.logs.says_hello")
    def says_hello():
        logging.getLogger("webapp.test").info("hello from a task")

    result = says_hello.delay()
    line = next(line for line in json_lines() if line["message"] == "hello from a task")
    assert line["task_id"] == result.id and line["request_id"] is None


def test_an_exception_is_one_line_with_its_traceback(json_lines):
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("webapp.test").exception("it failed")
    line = json_lines()[-1]
    assert line["message"] == "it failed" and "ValueError: bad value" in line["exception"]
