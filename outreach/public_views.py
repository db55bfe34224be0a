"""The public unsubscribe page: no login, the signed token in the link is the only authority.

GET only shows a confirmation (mail scanners open links; they must not unsubscribe anyone).
POST unsubscribes: the page's button, or a mail client's RFC 8058 one-click request
(``List-Unsubscribe=One-Click``), which carries no cookie and no CSRF token — hence
``csrf_exempt``. That is safe here: the token names the customer, forging a request needs the
token, and the only effect is to stop e-mail, idempotently.
"""

from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import Campaign
from customers.models import Customer
from outreach.email import email_unsubscribe, unsubscribe_read


@login_not_required
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        customer_id, campaign_id = unsubscribe_read(token)
    except signing.BadSignature:
        return _invalid(request)
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        return _invalid(request)
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    context = {
        "sender": campaign.sender_name if campaign else "",
        "email": _masked(customer.email or ""),
    }
    if request.method == "POST":
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        email_unsubscribe(customer=customer, campaign=campaign, one_click=one_click)
        return render(request, "public/unsubscribed.html", context)
    return render(request, "public/unsubscribe_confirm.html", context)


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "public/unsubscribe_invalid.html", status=404)


def _masked(address: str) -> str:
    """Enough of the address for the customer to recognise it, not enough to harvest it."""
    local, at, domain = address.partition("@")
    if not at:
        return ""
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"
