from django.urls import path

from review import views

app_name = "review"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("drafts/<int:pk>/", views.draft, name="draft"),
    path("drafts/<int:pk>/edit/", views.draft_edit, name="draft_edit"),
    path("drafts/<int:pk>/approve/", views.draft_approve, name="draft_approve"),
    path("drafts/<int:pk>/reject/", views.draft_reject, name="draft_reject"),
    path("drafts/<int:pk>/regenerate/", views.draft_regenerate, name="draft_regenerate"),
    path("drafts/<int:pk>/reassign/", views.draft_reassign, name="draft_reassign"),
    path("drafts/<int:pk>/claim/", views.draft_claim, name="draft_claim"),
    path("leads/", views.leads, name="leads"),
    path("leads/<int:pk>/", views.lead, name="lead"),
    path("runs/", views.runs, name="runs"),
    path("runs/<int:pk>/", views.run, name="run"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run_retry"),
    path("scoring/", views.scoring, name="scoring"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/auto-send/", views.auto_send, name="auto_send"),
]
