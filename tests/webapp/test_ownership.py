"""What a user creates belongs to them: other users get 404 and change nothing."""

import pytest
from django.urls import reverse

from webapp.accounts.models import ApiToken
from webapp.lib.ownership import get_owned_or_404


def test_others_cannot_revoke_a_token_on_the_page(client, alice, bob):
    token, _ = ApiToken.issue(alice, "alice's script")
    client.force_login(bob)
    response = client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_others_cannot_revoke_a_token_through_the_api(client, alice, bob):
    token, _ = ApiToken.issue(alice, "alice's script")
    _, bob_key = ApiToken.issue(bob, "bob's script")
    response = client.delete(
        f"/api/v1/tokens/{token.pk}", headers={"Authorization": f"Bearer {bob_key}"}
    )
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_lists_show_only_your_own_objects(client, alice, bob):
    ApiToken.issue(alice, "alice's script")
    _, bob_key = ApiToken.issue(bob, "bob's script")
    listed = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {bob_key}"}).json()
    listed = listed["items"]
    assert [t["name"] for t in listed] == ["bob's script"]

    client.force_login(bob)
    assert "alice&#x27;s script" not in client.get(reverse("accounts:profile")).content.decode()


def test_anonymous_users_own_nothing(alice):
    from django.contrib.auth.models import AnonymousUser
    from django.http import Http404

    token, _ = ApiToken.issue(alice, "script")
    assert not ApiToken.objects.owned_by(AnonymousUser()).exists()
    with pytest.raises(Http404):
        get_owned_or_404(ApiToken, AnonymousUser(), pk=token.pk)
