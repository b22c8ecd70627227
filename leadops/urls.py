from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from leadops import login
from pipeline import views as pipeline_views
from pipeline.email_views import email_events


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    # Browsers ask for /favicon.ico on pages that link no icon (the Django admin's, for one).
    return HttpResponseRedirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", pipeline_views.healthz, name="healthz"),
    path("login/", login.LoginView.as_view(), name="login"),
    # One throttled login page: the admin's own would be a second, unthrottled way to guess.
    path(
        "admin/login/",
        RedirectView.as_view(pattern_name="login", query_string=True),
        name="admin-login",
    ),
    path("metrics", pipeline_views.metrics, name="metrics"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(("pipeline.api.urls", "api-v1"), namespace="api-v1")),
    path("email/events/", email_events, name="email_events"),
    path("u/", include("pipeline.unsubscribe")),
    path("", include("pipeline.urls")),
    path("", include("review.urls")),
]
