"""A local Google Workspace Events API v1, faithful to the bundled discovery document.

Run it with `python -m emulator --host 127.0.0.1 --port PORT` (`--port 0` picks a free port).
It prints one line when ready, `Workspace Events API emulator listening on http://HOST:PORT/`,
logs one JSON object per line on stderr, and serves until SIGTERM or SIGINT. With
`PUBSUB_EMULATOR_HOST` set it publishes lifecycle events into the Pub/Sub emulator;
`GOOGLE_CLOUD_PROJECT` names the project of the Chat app's service account.

The API (`/v1/...`) follows `workspaceevents.v1.json` as installed with
google-api-python-client: paths, verbs, query parameters (the global ones included) and body
fields; anything else is refused with Google's error JSON. Bearer tokens map to principals:
`emulator:delegated:EMAIL` (a user through domain-wide delegation), `emulator:user-secret:RES`
(a user), `emulator:app` (the Chat app), any other token (a user derived from it).

The control surface (`/emulator/...`, JSON in and out; client: `emulator.control`):

| endpoint | what |
|---|---|
| `POST reset` | forget everything: subscriptions, operations, faults, config, quotas, clock, logs |
| `GET clock` | `{"now": RFC3339}` |
| `POST clock:advance` `{"seconds": N}` | move the clock; publish what became due, in order |
| `POST subscriptions/ID:suspend` `{"reason", "silent", "causeFixed"}` | suspend, as Google |
| `POST subscriptions/ID:fixCause` | the cause is gone: reactivate may succeed |
| `POST subscriptions/ID:expire` `{"silent"}` | publish `expired`; gone later |
| `POST faults`, `GET faults` | next N calls: error, delay, dropped connection, failed Operation |
| `POST config`, `GET config` | latency, pending polls, quotas, and the unverified behaviours |
| `GET requests`, `DELETE requests` | every API request received (never credentials) |
| `GET events` | every lifecycle event produced, delivered or not |

Where the real API's behaviour is unverified, `config` chooses (default first):
`payloadCase` (snake|camel lifecycle data), `endpointSuspensions` (silent|announced: whether
an `ENDPOINT_*` suspension publishes its `suspended` event), `expiredVisibleSeconds` (60: how
long `get`/`list` go on returning a subscription after its `expired` event),
`createOverExpired` (replaces|already_exists: a create on the target of an expired but still
visible subscription), `alreadyExistsNamesIt` (true|false: the ErrorInfo's
`current_subscription`), `crossPrincipalGet` (false|true: `get` of a subscription another
principal authorized; writes are refused either way), `appListsUserSubscriptions`
(false|true: under Chat app authentication `list` also returns what users authorized through
the app, one reading of "any subscription of the app"), `deterministicNames` (true|false: the
same name per target and principal, or a random one), `patchWhileSuspended` (allow|reject),
`ttlAboveMax` (clamp|error), `missingStatus` (404|403).

As Google documents it: a principal reads and writes only the subscriptions it authorized (a
user its own, the Chat app its own); ALREADY_EXISTS carries Google's ErrorInfo with
`metadata.current_subscription`; names are deterministic per target and principal (switch
above), so a subscription recreated after expiry keeps its name; `reconciling` is true while
an update's Operation is pending.

Emulator choices, not documented by Google: while a subscription is suspended for an
`ENDPOINT_*` reason its reminders and `expired` event are not delivered (the endpoint is broken);
a `suspended` event is published only when an ACTIVE subscription becomes SUSPENDED; the
topic's project is not compared with the caller's.
"""
