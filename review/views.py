"""Staff pages. Views parse, call one function in pipeline, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from pipeline.models import Draft, Lead, PipelineRun, ScoringConfig


@login_required
def queue(request):
    drafts = Draft.objects.filter(status=Draft.Status.PENDING).select_related("lead")[:50]
    return render(request, "review/queue.html", {"nav": "queue", "drafts": drafts})


@login_required
def leads(request):
    leads = Lead.objects.order_by("-created_at")[:100]
    return render(request, "review/leads.html", {"nav": "leads", "leads": leads})


@login_required
def runs(request):
    runs = PipelineRun.objects.select_related("lead").order_by("-created_at")[:100]
    return render(request, "review/runs.html", {"nav": "runs", "runs": runs})


@login_required
def scoring(request):
    return render(
        request, "review/scoring.html", {"nav": "scoring", "config": ScoringConfig.current()}
    )


@login_required
def dashboard(request):
    return render(request, "review/dashboard.html", {"nav": "dashboard"})
