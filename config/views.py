from django.shortcuts import redirect, render

from config.roles import is_supervisor


def home(request):
    if is_supervisor(request.user):
        return redirect("customers:import-list")
    return render(request, "home.html")
