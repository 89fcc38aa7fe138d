"""Headers that keep browsers safe, and headers from a proxy trusted only when configured."""

from django.test import RequestFactory

from webapp.lib.security import client_address


def test_every_page_forbids_inline_script(client, alice):
    client.force_login(alice)
    paths = ("/datasets/", "/accounts/login/", "/api/v1/datasets", "/api/v1/docs",
             "/api/v1/no-such-path")  # an error rewritten as JSON keeps the headers  # fmt: skip
    for path in paths:
        policy = client.get(path)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "object-src 'none'" in policy, path
        assert "frame-ancestors 'none'" in policy


def test_forwarded_headers_count_only_behind_the_configured_proxy(settings):
    request = RequestFactory().get(
        "/", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.7",
        REMOTE_ADDR="127.0.0.1",
    )  # fmt: skip
    settings.BEHIND_PROXY = False
    settings.SECURE_PROXY_SSL_HEADER = None
    assert not request.is_secure() and client_address(request) == "127.0.0.1"
    settings.BEHIND_PROXY = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The proxy's own entry, the last one: the first is whatever the client wrote.
    assert request.is_secure() and client_address(request) == "10.0.0.7"
