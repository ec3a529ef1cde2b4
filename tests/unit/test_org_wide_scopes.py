"""Scopes chosen by target and event type (docs/api-reference.md §6, §10): a Chat app on its
organization (`//admin.googleapis.com/customers/*`) writes with the `chat.app.all.*` scopes,
on a space with `chat.app.*`; users' scopes do not depend on the target."""

from __future__ import annotations

import pytest

from workspace_client.credentials import (
    AuthSpec,
    ClientFactory,
    CredentialsProvider,
    UnsupportedEventType,
    is_org_wide,
    scopes_for,
)

AUTH = "https://www.googleapis.com/auth/"
CHAT = "google.workspace.chat."
CUSTOMER = "//admin.googleapis.com/customers/my_customer"
SPACE = "//chat.googleapis.com/spaces/AAAA"


@pytest.mark.parametrize(
    ("event_types", "expected"),
    [
        ([CHAT + "message.v1.created"], {"chat.app.all.messages.readonly"}),
        ([CHAT + "reaction.v1.deleted"], {"chat.app.all.messages.readonly"}),
        ([CHAT + "membership.v1.updated"], {"chat.app.all.memberships.readonly"}),
        ([CHAT + "space.v1.updated"], {"chat.app.all.spaces.readonly"}),
        ([CHAT + "spaceReadState.v1.updated"], {"chat.app.all.users.readstate.readonly"}),
        (
            [CHAT + "message.v1.created", CHAT + "membership.v1.created"],
            {"chat.app.all.messages.readonly", "chat.app.all.memberships.readonly"},
        ),
    ],
)
def test_a_chat_app_on_its_organization_gets_the_chat_app_all_scopes(
    event_types: list[str], expected: set[str]
) -> None:
    scopes = scopes_for(event_types, "app", CUSTOMER)
    # chat.bot too: get, list and delete take it from an app, whatever the target
    assert set(scopes) == {AUTH + s for s in {*expected, "chat.bot"}}


def test_a_customer_id_is_an_organization_too() -> None:
    assert scopes_for(
        [CHAT + "message.v1.created"], "app", "//admin.googleapis.com/customers/C01abc"
    ) == (
        AUTH + "chat.app.all.messages.readonly",
        AUTH + "chat.bot",
    )


def test_a_chat_app_on_a_space_keeps_the_chat_app_scopes() -> None:
    for target in (SPACE, None):
        assert scopes_for([CHAT + "message.v1.created"], "app", target) == (
            AUTH + "chat.app.messages.readonly",
            AUTH + "chat.bot",
        )


def test_user_scopes_do_not_depend_on_the_target() -> None:
    assert scopes_for([CHAT + "message.v1.created"], "delegated", CUSTOMER) == scopes_for(
        [CHAT + "message.v1.created"], "delegated", SPACE
    )


def test_an_org_wide_app_cannot_take_meet_or_availability_types() -> None:
    for event_type in (
        "google.workspace.meet.conference.v2.started",
        CHAT + "availability.v1.updated",
    ):
        with pytest.raises(UnsupportedEventType):
            scopes_for([event_type], "app", CUSTOMER)


def test_which_targets_are_org_wide() -> None:
    assert is_org_wide(CUSTOMER)
    assert not is_org_wide(SPACE)
    assert not is_org_wide(None)


def test_the_factory_hands_out_clients_carrying_the_org_wide_scopes() -> None:
    # GIVEN the emulator's credentials (they name their scopes in the token)
    factory = ClientFactory(CredentialsProvider(mode="anonymous", endpoint="http://127.0.0.1:1/"))
    # WHEN clients for the same app and types are asked for a space and for the organization
    space = factory.clients_for("app", [CHAT + "message.v1.created"], SPACE)
    org = factory.clients_for(AuthSpec("app"), [CHAT + "message.v1.created"], CUSTOMER)
    # THEN two clients, whose tokens carry the scopes their targets need
    assert space is not org
    assert factory.clients_for("app", [CHAT + "message.v1.created"]) is space
    credentials = factory.provider.credentials_for(
        AuthSpec("app"), scopes_for([CHAT + "message.v1.created"], "app", CUSTOMER)
    )
    assert credentials.token == "emulator:app;scopes=chat.app.all.messages.readonly,chat.bot"
