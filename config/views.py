from django.shortcuts import redirect, render

from config.roles import AGENT, is_supervisor


def home(request):
    if is_supervisor(request.user):
        return redirect("customers:import-list")
    if request.user.groups.filter(name=AGENT).exists():
        return redirect("outreach:work")
    return render(request, "home.html")
