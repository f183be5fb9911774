"""Sign-in with a per-client rate limit on failed attempts, and switching the working organization."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from riskapp.accounts.middleware import SESSION_KEY
from riskapp.accounts.tenancy import organizations_for

WINDOW_S = 15 * 60


def _attempt_key(request) -> str:
    username = (request.POST.get("username") or "").strip().lower()
    client = request.META.get("REMOTE_ADDR", "")
    return "login-fail:" + hashlib.sha256(f"{client}|{username}".encode()).hexdigest()


class RateLimitedLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if cache.get(_attempt_key(request), 0) >= settings.LOGIN_RATE_LIMIT:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, "Too many failed sign-in attempts. Wait 15 minutes and try again.")
            response = self.form_invalid(form)
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        key = _attempt_key(self.request)
        if cache.add(key, 1, WINDOW_S) is False:
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, WINDOW_S)
        return super().form_invalid(form)


@login_required
@require_POST
def switch_organization(request, org_id: int):
    organization = get_object_or_404(organizations_for(request.user), pk=org_id)
    request.session[SESSION_KEY] = organization.pk
    messages.info(request, f"You are now working in {organization.name}.")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return HttpResponseRedirect(target)
