from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from pipeline import views as pipeline_views

urlpatterns = [
    path("healthz", pipeline_views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("u/", include("pipeline.unsubscribe")),
    path("", include("pipeline.urls")),
    path("", include("review.urls")),
]
