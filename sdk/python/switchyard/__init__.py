"""Switchyard SDK for Python: publish events, manage subscribers, verify webhook deliveries.

Standard library only; Python 3.9 or later.

>>> from switchyard import Client, verify_webhook
>>> hub = Client("http://127.0.0.1:8080", jwt_secret="...", admin_token="...")
>>> hub.publish("orders.created", {"body": {"id": 7, "total": 120}})
"""
from .client import Client, __version__
from .errors import (AuthError, Conflict, NotFound, RateLimited, SwitchyardError, Unavailable,
                     ValidationError)
from .tokens import sign_token
from .webhooks import WebhookVerificationError, sign_webhook, verify_webhook

__all__ = [
    "Client", "SwitchyardError", "ValidationError", "AuthError", "NotFound", "Conflict",
    "RateLimited", "Unavailable", "WebhookVerificationError", "verify_webhook", "sign_webhook",
    "sign_token", "__version__",
]
