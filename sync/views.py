"""Pages (SPEC §8): the dashboard, an installation page, the "Sync now" button and the
live fragment the pages poll. Membership decides what a user sees (404 otherwise,
superusers included); every sync goes through `request_sync`."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from integrations.models import Installation
from sync.decisions import decision_level, signed_in
from sync.policy import Trigger, user_message
from sync.selectors import (
    github_id_of,
    installation_for_member,
    job_history,
    recent_events,
    repositories_of,
)
from sync.services import InstallationNotFound, request_sync
from sync.status import get_status, get_status_for_user


def _member_installation(request: HttpRequest, github_id: int) -> Installation:
    installation = installation_for_member(user=request.user, github_id=github_id)
    if installation is None:
        raise Http404("No such installation")
    return installation


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    statuses = get_status_for_user(request.user, timezone.now())
    return render(request, "sync/dashboard.html", {"statuses": statuses, "cards": statuses})


@require_GET
@login_required
def installation_detail(request: HttpRequest, github_id: int) -> HttpResponse:
    installation = _member_installation(request, github_id)
    now = timezone.now()
    statuses = get_status_for_user(request.user, now)
    status = next((s for s in statuses if s.installation_id == installation.github_id), None)
    if status is None:  # membership ended between the two reads
        status = get_status(installation, now)
    context = {
        "installation": installation,
        "status": status,
        "statuses": statuses,
        "cards": [status],
        "live_installation": installation.github_id,
        "repositories": repositories_of(installation),
        "jobs": job_history(installation),
        "events": recent_events(installation),
        "now": now,
    }
    return render(request, "sync/installation.html", context)


@require_POST
@login_required
def installation_sync(request: HttpRequest, github_id: int) -> HttpResponse:
    """The "Sync now" button: the decision in plain words, then back where it was."""
    installation = _member_installation(request, github_id)
    try:
        decision = request_sync(
            installation_id=installation.pk, trigger=Trigger.MANUAL, actor=signed_in(request.user)
        )
    except InstallationNotFound as exc:
        raise Http404("No such installation") from exc
    messages.add_message(request, decision_level(decision), user_message(decision))
    target = request.POST.get("next", "")
    if not target or not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect("installation", github_id=installation.github_id)
    return redirect(target)


@require_GET
@login_required
def status_live(request: HttpRequest) -> HttpResponse:
    """The banner and health cards as a fragment, polled by static/ghsync.js while
    anything is syncing or paused. `?installation=<github id>` limits the cards."""
    statuses = get_status_for_user(request.user, timezone.now())
    cards = statuses
    wanted = request.GET.get("installation", "")
    if wanted:
        number = github_id_of(wanted)
        cards = [s for s in statuses if number is not None and s.installation_id == number]
        if not cards:
            raise Http404("No such installation")
    # Forms in the fragment send the user back to the page that polls it, not here.
    return_to = (
        reverse("installation", args=[cards[0].installation_id]) if wanted else reverse("dashboard")
    )
    context = {"statuses": statuses, "cards": cards, "return_to": return_to}
    response = render(request, "sync/_live.html", context)
    add_never_cache_headers(response)
    return response
