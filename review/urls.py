from django.urls import path

from review import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("leads/", views.leads, name="leads"),
    path("runs/", views.runs, name="runs"),
    path("scoring/", views.scoring, name="scoring"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
