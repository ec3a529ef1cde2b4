"""Credentials of a `user-secret:` principal that survive a re-consent: when Google refuses
the refresh token for good (`invalid_grant`: revoked, expired, the password changed), the
secret is read again once, and a newer refresh token stored there is used at once.

Imported only when such credentials are built (google.oauth2 is heavy, see credentials.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials

if TYPE_CHECKING:
    from google.auth.transport import Request

logger = logging.getLogger(__name__)


class RereadingUserCredentials(Credentials):
    """`google.oauth2.credentials.Credentials` whose failed refresh re-reads the secret.

    `reread` returns the authorized-user JSON the secret holds now. The object is shared by
    the clients cached for its principal, so the new consent is taken into this very object:
    every holder acts with it on its next request.
    """

    reread: Callable[[], Mapping[str, Any]] | None = None
    secret_name: str = ""

    def refresh(self, request: Request) -> None:
        try:
            super().refresh(request)  # type: ignore[no-untyped-call]
        except RefreshError as refused:
            if refused.retryable or self.reread is None:
                raise
            with _REREAD_LOCK:
                fresh = Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                    dict(self.reread()), scopes=self.scopes
                )
                if (fresh.refresh_token, fresh.client_id) == (self.refresh_token, self.client_id):
                    raise  # the secret still holds the refused consent
                # google-auth keeps the refresh token and client in private fields with no
                # setter; its pickling state is the supported way to carry them over whole.
                self.__setstate__(fresh.__getstate__())  # type: ignore[no-untyped-call]
            # The secret's name only: its content (the refresh token) is never logged.
            logger.warning(
                "the refresh token of %s was refused for good; using the one it holds now",
                self.secret_name,
            )
            # Once: if the secret's token is refused too, that failure is the answer.
            super().refresh(request)  # type: ignore[no-untyped-call]


# Rare (a re-consent), and a re-read is a network call: one at a time is plenty.
_REREAD_LOCK = threading.Lock()
