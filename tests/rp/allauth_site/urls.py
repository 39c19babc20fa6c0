from django.http import JsonResponse
from django.urls import include, path


def whoami(request):
    """What the RP believes about the browser: who is logged in, if anyone."""
    user = request.user
    return JsonResponse(
        {
            "authenticated": user.is_authenticated,
            "username": user.get_username() if user.is_authenticated else None,
            "email": getattr(user, "email", None) if user.is_authenticated else None,
        }
    )


urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("whoami/", whoami),
]
