from tests.support.gcloud_emulators import (  # noqa: F401  (fixtures)
    firestore_emulator_host,
    project_id,
    pubsub_emulator_host,
)
from tests.support.keeper_stack import keeper_stack  # noqa: F401  (fixture)
from tests.support.memory_stack import (  # noqa: F401  (fixtures)
    in_process_workspace_emulator,
    memory_keeper,
)
from tests.support.reliability import (  # noqa: F401  (fixtures)
    fast_api_client,
    short_empty_pulls,
)
from tests.support.secrets import (  # noqa: F401  (fixtures)
    no_secret_in_what_each_test_leaves,
    secret_scan,
)
from tests.support.tiers import mark_and_order_by_tier
from tests.support.workspace_emulator import (  # noqa: F401  (fixtures)
    workspace_emulator,
    workspace_emulator_process,
)


def pytest_collection_modifyitems(items):
    mark_and_order_by_tier(items)
