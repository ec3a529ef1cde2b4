"""The Chat app's direct message to the user who can fix a subscription (KEEPER_DIRECT_MESSAGES,
docs/design.md, Notices): a NoticeSink beside the notices topic's. For a `needsAttention` notice
about a Chat subscription under a user's authority, the app finds its direct message space with
that user (`spaces.findDirectMessage`) and sends the remedy there (`spaces.messages.create`),
both with app authentication and `chat.bot` (docs/api-reference.md §11). Once per problem: it
rides on the notice, which is sent once per problem, and a notice sent again after a crash
sends the same `requestId`, so Google creates no second message."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from keeper.domain.notices import NEEDS_ATTENTION, Notice
from workspace_client.errors import CredentialsUnavailable, PermanentError

if TYPE_CHECKING:
    from workspace_client.chat import ChatClient

log = logging.getLogger(__name__)

CHAT_SPACES = "//chat.googleapis.com/spaces/"
# The only scope app authentication takes for both calls (their reference pages).
APP_SCOPES = ("chat.bot",)
# requestId namespace: a notice's id always maps to the same request id.
_REQUEST_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "keeper.subscription.v1.needsAttention")


def message_text(notice: Notice) -> str:
    """What the user reads: which subscription stopped, since when, why, and what to do."""
    data = notice.data
    space = str(data["target"]).removeprefix("//chat.googleapis.com/")
    where = "your Chat spaces" if space == "spaces/-" else space
    return (
        f"Events of {where} stopped reaching the app on {data['since']} ({data['reason']}). "
        f"{data['remedy']}"
    )


class DirectMessages:
    """NoticeSink: `needsAttention` for a user's Chat subscription, as a direct message from
    the Chat app. `chat()`: the Chat API with app authentication and APP_SCOPES."""

    def __init__(self, chat: Callable[[], ChatClient]) -> None:
        self._chat = chat

    def publish(self, notice: Notice) -> None:
        target = str(notice.data.get("target") or "")
        if (
            notice.type != NEEDS_ATTENTION
            or notice.user is None
            or not target.startswith(CHAT_SPACES)
        ):
            return
        # A refusal, or app credentials that cannot be had, would refuse the message every
        # time: logged, and the notice on the topic stands; a transient failure raises, so
        # the notice is sent again (the same requestId: no second message).
        try:
            chat = self._chat()
            space = chat.find_direct_message(notice.user)
            if space is None:
                log.info(
                    "no direct message between %s and the Chat app: %s not sent by Chat",
                    notice.user,
                    notice.id,
                )
                return
            request_id = str(uuid.uuid5(_REQUEST_IDS, notice.id))
            message = chat.create_message(space, message_text(notice), request_id=request_id)
        except (PermanentError, CredentialsUnavailable) as error:
            log.warning("the direct message of %s to %s failed: %s", notice.id, notice.user, error)
            return
        log.info("told %s by direct message %s: %s", notice.user, message, notice.id)
