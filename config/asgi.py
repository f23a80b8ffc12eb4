"""ASGI entry point: HTTP through Django, WebSockets through Channels.

Run with ``daphne config.asgi:application``. On the embedded default the app
also serves its own static files; set SERVE_STATIC=0 behind a web server.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

http_app = django_asgi_app
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

from bidding.asgi import RequestBodyLimit  # noqa: E402
from opening.wire import WireCapture  # noqa: E402

# Oversized request bodies (bid parts and everything else) are refused before Django
# spools them to a temporary file (bidding/asgi.py).
http_app = RequestBodyLimit(http_app)

application = ProtocolTypeRouter(
    {
        "http": http_app,
        # WireCapture first: it sees the send callable Daphne itself passes (opening/wire.py).
        "websocket": WireCapture(AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
