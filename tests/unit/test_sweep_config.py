"""The sweep's variables: GIVEN the environment, THEN the Config, or an error naming the
variable."""

import pytest

from keeper.runtime.config import Config, ConfigError

BASE = {"GOOGLE_CLOUD_PROJECT": "p"}


def test_sweep_defaults():
    config = Config.from_env(BASE)
    assert config.sweep_topic is None
    assert (
        config.sweep_budget_seconds,
        config.sweep_shard_size,
        config.sweep_verify_minutes,
        config.sweep_quota_percent,
    ) == (240, 500, 10, 95)


def test_sweep_variables_are_read():
    config = Config.from_env(
        {
            **BASE,
            "KEEPER_SWEEP_TOPIC": "projects/p/topics/keeper-sweep",
            "KEEPER_SWEEP_BUDGET_SECONDS": "500",
            "KEEPER_SWEEP_SHARD_SIZE": "50",
            "KEEPER_SWEEP_VERIFY_MINUTES": "60",
            "KEEPER_SWEEP_QUOTA_PERCENT": "100",
        }
    )
    assert config.sweep_topic == "projects/p/topics/keeper-sweep"
    assert (
        config.sweep_budget_seconds,
        config.sweep_shard_size,
        config.sweep_verify_minutes,
        config.sweep_quota_percent,
    ) == (500, 50, 60, 100)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KEEPER_SWEEP_TOPIC", "keeper-sweep"),
        ("KEEPER_SWEEP_TOPIC", "projects/p/subscriptions/s"),
        ("KEEPER_SWEEP_BUDGET_SECONDS", "0"),
        ("KEEPER_SWEEP_SHARD_SIZE", "many"),
        ("KEEPER_SWEEP_VERIFY_MINUTES", "-5"),
        ("KEEPER_SWEEP_QUOTA_PERCENT", "101"),
    ],
)
def test_bad_sweep_variables_fail_fast(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Config.from_env({**BASE, variable: value})
