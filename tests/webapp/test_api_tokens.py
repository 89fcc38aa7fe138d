"""Personal API tokens: created on the account page or from the shell, shown once, stored
hashed, accepted as bearer tokens by the JSON API, and revocable."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from webapp.accounts.models import ApiToken
from webapp.lib import keys


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


def test_account_page_creates_a_token_and_shows_it_once(client, alice):
    client.force_login(alice)
    response = client.post(reverse("accounts:create_token"), {"name": "nightly scoring"})
    assert response.status_code == 302
    page = client.get(response.url)
    key = page.context["new_token"]["key"]
    assert key.startswith("aml_")
    assert key in page.content.decode()

    token = ApiToken.objects.get(owner=alice)
    assert token.name == "nightly scoring"
    assert token.digest == keys.digest(key)
    assert key not in (token.digest, token.prefix)

    page = client.get(reverse("accounts:profile")).content.decode()
    assert "nightly scoring" in page
    assert key not in page


def test_token_needs_a_name(client, alice):
    client.force_login(alice)
    response = client.post(reverse("accounts:create_token"), {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_bearer_token_authenticates_the_api(client, alice):
    _, key = ApiToken.issue(alice, "script")
    response = client.get("/api/v1/me", headers=bearer(key))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert ApiToken.objects.get().last_used is not None


def test_session_authenticates_the_api(client, alice):
    client.force_login(alice)
    assert client.get("/api/v1/me").json()["username"] == "alice"


@pytest.mark.parametrize(
    "headers", [{}, bearer("aml_not-a-real-token"), {"Authorization": "Basic x"}]
)
def test_api_without_valid_credentials_answers_401_with_a_message(client, db, headers):
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert "Authorization: Bearer" in response.json()["detail"]
    # Unsafe methods too: without a session there is no CSRF check to fail, just a 401.
    assert client.delete("/api/v1/tokens/1", headers=headers).status_code == 401


def test_a_session_still_needs_its_csrf_token_for_unsafe_methods(alice):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    _, key = ApiToken.issue(alice, "script")
    token = ApiToken.objects.get()
    assert browser.delete(f"/api/v1/tokens/{token.pk}").status_code == 403
    assert browser.delete(f"/api/v1/tokens/{token.pk}", headers=bearer(key)).status_code == 204


def test_token_of_a_deactivated_user_is_refused(client, alice):
    _, key = ApiToken.issue(alice, "script")
    alice.is_active = False
    alice.save()
    assert client.get("/api/v1/me", headers=bearer(key)).status_code == 401


def test_revoked_token_is_refused(client, alice):
    token, key = ApiToken.issue(alice, "script")
    client.force_login(alice)
    response = client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert response.status_code == 302
    client.logout()
    assert client.get("/api/v1/me", headers=bearer(key)).status_code == 401


def test_api_lists_and_revokes_tokens(client, alice):
    token, key = ApiToken.issue(alice, "script")
    ApiToken.issue(alice, "notebook")
    listed = client.get("/api/v1/tokens", headers=bearer(key)).json()["items"]
    assert {t["name"] for t in listed} == {"script", "notebook"}
    assert all(set(t) == {"id", "name", "prefix", "created", "last_used"} for t in listed)

    response = client.delete(f"/api/v1/tokens/{token.pk}", headers=bearer(key))
    assert response.status_code == 204
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["notebook"]


def test_apitoken_command_prints_a_working_token(client, alice):
    out = StringIO()
    call_command("apitoken", "alice", stdout=out)
    key = out.getvalue().strip()
    assert client.get("/api/v1/me", headers=bearer(key)).json()["username"] == "alice"


def test_apitoken_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("apitoken", "ghost")


def test_api_docs_are_served_offline(client, db):
    page = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle" in page
    assert "http://" not in page
    assert "https://" not in page
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/me" in schema["paths"]
