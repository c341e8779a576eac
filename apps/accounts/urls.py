from django.urls import path

from apps.accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("account/password/reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path("account/password/reset/sent/", views.PasswordResetDoneView.as_view(), name="password-reset-done"),
    path(
        "account/password/reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("o/<slug:organization_slug>/tokens/", views.ApiTokensView.as_view(), name="tokens"),
    path("o/<slug:organization_slug>/tokens/created/", views.ApiTokenCreatedView.as_view(), name="token-created"),
    path(
        "o/<slug:organization_slug>/tokens/<int:token_id>/revoke/",
        views.ApiTokenRevokeView.as_view(),
        name="token-revoke",
    ),
]
