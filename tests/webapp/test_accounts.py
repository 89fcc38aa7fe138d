"""Sign-up, the first account, invitations, the team page, log in and out, password change."""

import re
import threading

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
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
    response = client.post(signup, {**form, "username": "grace"}, follow=True)
    assert "Sign-up is closed" in response.content.decode()  # closed by default after the first
    assert not User.objects.filter(username="grace").exists()


@pytest.mark.django_db
def test_open_signup_makes_ordinary_accounts(client, settings, alice):
    settings.ALLOW_SIGNUP = True
    form = {"username": "grace", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert client.post(reverse("accounts:signup"), form).status_code == 302
    grace = User.objects.get(username="grace")
    assert (grace.is_superuser, grace.is_staff) == (False, False)


@pytest.mark.django_db(transaction=True)
def test_two_first_signups_at_once_make_one_administrator():
    start = threading.Barrier(4)
    answers = []

    def sign_up(name):
        form = {"username": name, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
        start.wait()
        answers.append(Client().post(reverse("accounts:signup"), form).status_code)

    threads = [threading.Thread(target=sign_up, args=(f"user{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 4
    assert User.objects.filter(is_superuser=True).count() == 1
    assert User.objects.count() == 1  # the others found sign-up closed by then


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
    assert "Create one" not in client.get(reverse("accounts:login")).content.decode()


@pytest.fixture
def admin_client(client, db):
    admin = User.objects.create_superuser("root", password=PASSWORD)
    client.force_login(admin)
    return client


def _invitation_link(client, **fields) -> str:
    client.post(reverse("accounts:invite"), fields)
    page = client.get(reverse("accounts:team")).content.decode()
    return re.search(r'id="new-invitation" type="text" readonly value="([^"]+)"', page).group(1)


def test_an_invitation_link_makes_one_account(admin_client):
    link = _invitation_link(admin_client, note="Grace, finance")
    assert "/accounts/invitations/inv_" in link
    path = link.split("testserver", 1)[1]
    # Shown once: the team page lists it, never its key again.
    page = admin_client.get(reverse("accounts:team")).content.decode()
    assert "Grace, finance" in page and link not in page
    visitor = Client()
    assert "Create your account" in visitor.get(path).content.decode()
    form = {"username": "grace", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = visitor.post(path, form)
    assert response.status_code == 302 and response.url == reverse("datasets:index")
    grace = User.objects.get(username="grace")
    assert not grace.is_staff
    again = Client().post(path, {**form, "username": "mallory"})
    assert again.status_code == 404 and not User.objects.filter(username="mallory").exists()


def test_an_invitation_can_make_an_administrator_or_be_cancelled(admin_client):
    from webapp.accounts.models import Invitation

    link = _invitation_link(admin_client, note="Bob", is_staff="on")
    path = link.split("testserver", 1)[1]
    form = {"username": "bob", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    Client().post(path, form)
    assert User.objects.get(username="bob").is_staff

    path = _invitation_link(admin_client, note="Eve").split("testserver", 1)[1]
    pending = Invitation.pending().get(note="Eve")
    admin_client.post(reverse("accounts:cancel_invitation", args=[pending.pk]))
    assert Client().get(path).status_code == 404


def test_the_team_page_is_for_administrators(client, alice):
    client.force_login(alice)
    assert client.get(reverse("accounts:team")).status_code == 302
    assert client.post(reverse("accounts:invite")).status_code == 302
    assert "Team" not in client.get(reverse("datasets:index")).content.decode()


def test_an_administrator_creates_accounts_sets_quotas_and_deactivates(admin_client, alice):
    form = {"username": "grace", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert admin_client.post(reverse("accounts:create_user"), form).status_code == 302
    assert Client().login(username="grace", password=NEW_PASSWORD)

    quota = {f"user-{alice.pk}-storage_gb": "1.5", f"user-{alice.pk}-experiments": "1",
             f"user-{alice.pk}-jobs": ""}  # fmt: skip
    admin_client.post(reverse("accounts:set_quota", args=[alice.pk]), quota)
    alice_client = Client()
    alice_client.force_login(alice)
    usage = alice_client.get(reverse("accounts:profile")).content.decode()
    assert "0\xa0bytes of 1.5\xa0GB" in usage and "0 of 1<" in usage and "0 of 10<" in usage

    admin_client.post(reverse("accounts:set_active", args=[alice.pk]), {"active": "0"})
    alice.refresh_from_db()
    assert not alice.is_active
    assert not Client().login(username="alice", password=PASSWORD)


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


def test_failed_logins_are_throttled_per_account(client, alice, settings):
    login = reverse("accounts:login")
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT):
        client.post(login, {"username": "alice", "password": "guess"})
    # Now even the right password waits: the count cannot be beaten by guessing faster.
    response = client.post(login, {"username": "Alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed attempts: try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Other accounts from elsewhere are not locked out by it.
    other = Client(REMOTE_ADDR="10.0.0.9")
    User.objects.create_user("bob", password=PASSWORD)
    assert other.post(login, {"username": "bob", "password": PASSWORD}).status_code == 302


def test_lookalike_usernames_count_against_the_same_account(client, alice, settings):
    login = reverse("accounts:login")
    variants = ["alice", "ALICE", "\uff41lice", " alice", "Alice"]  # one full-width "a"
    for name in variants:
        client.post(login, {"username": name, "password": "guess"})
    response = client.post(login, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429


def test_an_administrator_cannot_lock_out_a_superuser(client, db):
    root = User.objects.create_superuser("root", password=PASSWORD)
    helper = User.objects.create_user("helper", password=PASSWORD, is_staff=True)
    client.force_login(helper)
    client.post(reverse("accounts:set_active", args=[root.pk]), {"active": "0"})
    root.refresh_from_db()
    assert root.is_active


def test_failed_logins_are_throttled_per_address_and_on_the_admin(client, settings, db):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    User.objects.create_superuser("root", password=PASSWORD)
    for name in ("a", "b", "c"):
        client.post(reverse("accounts:login"), {"username": name, "password": "guess"})
    response = client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
    assert "Too many failed attempts" in response.content.decode()
    assert Client(REMOTE_ADDR="10.0.0.9").login(username="root", password=PASSWORD)


def test_a_successful_login_clears_the_accounts_count(client, alice, settings):
    login = reverse("accounts:login")
    for _ in range(settings.LOGIN_FAILURES_PER_ACCOUNT - 1):
        client.post(login, {"username": "alice", "password": "guess"})
    assert client.post(login, {"username": "alice", "password": PASSWORD}).status_code == 302
    client.logout()
    client.post(login, {"username": "alice", "password": "guess"})
    assert client.post(login, {"username": "alice", "password": PASSWORD}).status_code == 302


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
