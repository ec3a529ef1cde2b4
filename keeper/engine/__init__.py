"""The engine: observe (Google's view), carry a decided plan out (lease, API write, record),
and the edges it acts through: alerts, the Pub/Sub endpoint's checks, replays of missed events."""
