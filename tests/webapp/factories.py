from django.contrib.auth import get_user_model

PASSWORD = "correct-horse-battery"


def make_user(username: str = "alice", **overrides):
    return get_user_model().objects.create_user(
        username=username, password=overrides.pop("password", PASSWORD), **overrides
    )
