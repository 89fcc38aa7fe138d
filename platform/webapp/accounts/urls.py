from django.contrib.auth import views as auth_views
from django.urls import path

from webapp.accounts import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("", views.profile, name="profile"),
    path("tokens/", views.create_token, name="create_token"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("invitations/<str:key>/", views.accept_invitation, name="invitation"),
    path("team/", views.team, name="team"),
    path("team/invite/", views.invite, name="invite"),
    path(
        "team/invitations/<int:invitation_id>/cancel/",
        views.cancel_invitation,
        name="cancel_invitation",
    ),
    path("team/users/", views.create_user, name="create_user"),
    path("team/users/<int:user_id>/quota/", views.set_quota, name="set_quota"),
    path("team/users/<int:user_id>/active/", views.set_active, name="set_active"),
]
