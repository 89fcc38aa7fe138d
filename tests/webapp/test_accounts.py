"""Sign-up, the first account, log in and out, password change."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.webapp.factories import PASSWORD

User = get_user_model()
NEW_PASSWORD = "a-fresh-and-long-passphrase"


@pytest.mark.django_db
def test_first_visit_to_a_fresh_install_leads_to_creating_the_first_account(client):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:signup")
    assert "Create the first account" in response.content.decode()


@pytest.mark.django_db
def test_login_page_sends_a_fresh_install_to_signup(client):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 302
    assert response.url == reverse("accounts:signup")


@pytest.mark.django_db
def test_first_account_administers_the_install_and_later_ones_do_not(client):
    signup = reverse("accounts:signup")
    form = {"username": "ada", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = client.post(signup, form)
    assert response.status_code == 302
    assert response.url == reverse("datasets:index")
    ada = User.objects.get(username="ada")
    assert (ada.is_superuser, ada.is_staff) == (True, True)

    client.logout()
    client.post(signup, {**form, "username": "grace"})
    grace = User.objects.get(username="grace")
    assert (grace.is_superuser, grace.is_staff) == (False, False)


@pytest.mark.django_db
def test_signup_logs_the_new_user_in(client):
    form = {"username": "ada", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    client.post(reverse("accounts:signup"), form)
    response = client.get(reverse("datasets:index"))
    assert response.status_code == 200
    assert response.wsgi_request.user.username == "ada"


@pytest.mark.django_db
def test_signup_rejects_mismatched_and_weak_passwords(client):
    form = {"username": "ada", "password1": NEW_PASSWORD, "password2": "something-else-entirely"}
    response = client.post(reverse("accounts:signup"), form)
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()

    response = client.post(
        reverse("accounts:signup"), {"username": "ada", "password1": "123", "password2": "123"}
    )
    assert "too short" in response.content.decode()
    assert not User.objects.exists()


def test_closed_signup_still_allows_the_first_account(client, settings, db):
    settings.ALLOW_SIGNUP = False
    assert client.get(reverse("accounts:signup")).status_code == 200


def test_closed_signup_refuses_further_accounts(client, settings, alice):
    settings.ALLOW_SIGNUP = False
    form = {"username": "mallory", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = client.post(reverse("accounts:signup"), form, follow=True)
    assert "Sign-up is closed" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()


def test_pages_require_login(client, alice):
    for name in ["datasets:index", "experiments:index", "deployments:index", "accounts:profile"]:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("accounts:login")), name


def test_login_and_logout(client, alice):
    response = client.post(
        reverse("accounts:login"), {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("datasets:index")
    assert "No datasets yet" in response.content.decode()

    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("datasets:index")).status_code == 302


def test_login_with_a_wrong_password_says_so(client, alice):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_password_change(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_change_needs_the_old_password(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_the_navigation_shows_every_section(client, alice):
    client.force_login(alice)
    page = client.get(reverse("experiments:index")).content.decode()
    for label in ["Datasets", "Experiments", "Deployments", "alice", "Log out"]:
        assert label in page
    assert 'aria-current="page">Experiments' in page
