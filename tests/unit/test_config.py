"""Config from the environment: GIVEN variables, THEN a frozen Config or an error naming the
variable."""

import pytest

from keeper.runtime.config import Config, ConfigError
from workspace_client.chat import DEFAULT_CHAT_ENDPOINT
from workspace_client.client import DEFAULT_ENDPOINT


def test_defaults():
    config = Config.from_env({"GOOGLE_CLOUD_PROJECT": "p"})
    assert config.project == "p"
    assert config.api_endpoint == DEFAULT_ENDPOINT
    assert config.chat_api_endpoint == DEFAULT_CHAT_ENDPOINT == "https://chat.googleapis.com/"
    assert config.credentials == "auto"
    assert config.fix_topic_iam is False


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "GOOGLE_CLOUD_PROJECT"),
        ({"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_CREDENTIALS": "root"}, "KEEPER_CREDENTIALS"),
        ({"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_CREDENTIALS": "anonymous"}, "loopback"),
        (
            {
                "GOOGLE_CLOUD_PROJECT": "p",
                "KEEPER_CREDENTIALS": "anonymous",
                "WORKSPACE_EVENTS_API_ENDPOINT": "http://10.0.0.8:8080/",
            },
            "loopback",
        ),
        (
            {"GOOGLE_CLOUD_PROJECT": "p", "WORKSPACE_EVENTS_API_ENDPOINT": "ftp://x"},
            "WORKSPACE_EVENTS_API_ENDPOINT",
        ),
        (
            {"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_CHAT_API_ENDPOINT": "chat.googleapis.com"},
            "KEEPER_CHAT_API_ENDPOINT must be an http",
        ),
        (
            {
                "GOOGLE_CLOUD_PROJECT": "p",
                "KEEPER_CREDENTIALS": "anonymous",
                "WORKSPACE_EVENTS_API_ENDPOINT": "http://127.0.0.1:8089/",
                "KEEPER_CHAT_API_ENDPOINT": "https://chat.googleapis.com/",
            },
            "loopback KEEPER_CHAT_API_ENDPOINT",
        ),
        ({"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_FIX_TOPIC_IAM": "maybe"}, "KEEPER_FIX_TOPIC_IAM"),
        ({"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_LEDGER_TTL_DAYS": "-1"}, "KEEPER_LEDGER_TTL_DAYS"),
        (
            {"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_DEAD_LETTER_SUBSCRIPTION": "projects/p/topics/t"},
            "KEEPER_DEAD_LETTER_SUBSCRIPTION must be projects/PROJECT/subscriptions/SUBSCRIPTION",
        ),
    ],
)
def test_bad_environment_fails_fast_naming_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8085", "http://localhost:1/", "http://[::1]:9/"]
)
def test_anonymous_is_allowed_on_loopback(endpoint):
    config = Config.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "p",
            "KEEPER_CREDENTIALS": "anonymous",
            "WORKSPACE_EVENTS_API_ENDPOINT": endpoint,
        }
    )
    assert config.credentials == "anonymous"
    assert config.api_endpoint.endswith("/")
    # the emulator serves the Chat API at the same base URL: the local run's default
    assert config.chat_api_endpoint == config.api_endpoint


def test_the_chat_api_endpoint_is_configurable():
    config = Config.from_env(
        {"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_CHAT_API_ENDPOINT": "https://chat.example.test"}
    )
    assert config.chat_api_endpoint == "https://chat.example.test/"


def test_the_dead_letter_inbox_is_a_subscription_path():
    config = Config.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "p",
            "KEEPER_DEAD_LETTER_SUBSCRIPTION": "projects/p/subscriptions/keeper-dead-letter-inbox",
        }
    )
    assert config.dead_letter_subscription == "projects/p/subscriptions/keeper-dead-letter-inbox"
    assert Config.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).dead_letter_subscription is None


def test_replay_is_off_unless_the_deployment_turns_it_on():
    assert Config.from_env({"GOOGLE_CLOUD_PROJECT": "p"}).replay_default is False
    on = Config.from_env({"GOOGLE_CLOUD_PROJECT": "p", "KEEPER_REPLAY_DEFAULT": "true"})
    assert on.replay_default is True


@pytest.mark.parametrize(
    ("variable", "field", "google"),
    [
        ("KEEPER_CHAT_API_ENDPOINT", "chat_api_endpoint", "https://chat.googleapis.com/"),
        ("KEEPER_MEET_API_ENDPOINT", "meet_api_endpoint", "https://meet.googleapis.com/"),
        (
            "KEEPER_DRIVE_ACTIVITY_API_ENDPOINT",
            "drive_activity_api_endpoint",
            "https://driveactivity.googleapis.com/",
        ),
    ],
)
def test_each_replayed_apis_endpoint_follows_the_contract(variable, field, google):
    # GIVEN nothing set THEN Google's API
    assert getattr(Config.from_env({"GOOGLE_CLOUD_PROJECT": "p"}), field) == google
    # GIVEN anonymous credentials on the emulator THEN the emulator's base URL by default
    local = {
        "GOOGLE_CLOUD_PROJECT": "p",
        "KEEPER_CREDENTIALS": "anonymous",
        "WORKSPACE_EVENTS_API_ENDPOINT": "http://127.0.0.1:8089",
    }
    assert getattr(Config.from_env(local), field) == "http://127.0.0.1:8089/"
    # AND set, with a slash added
    assert (
        getattr(Config.from_env({**local, variable: "http://[::1]:9"}), field) == "http://[::1]:9/"
    )
    # AND never Google's under anonymous credentials
    with pytest.raises(ConfigError, match=f"loopback {variable}"):
        Config.from_env({**local, variable: google})
