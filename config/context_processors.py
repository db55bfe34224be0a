from config.roles import AGENT, is_supervisor, user_has_role


def roles(request):
    user = request.user
    return {
        "is_supervisor": is_supervisor(user),
        "is_agent": user_has_role(user, AGENT),
    }
