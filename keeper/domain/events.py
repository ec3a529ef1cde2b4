"""The lifecycle event types (a module light enough for the ignored-event fast path)."""

LIFECYCLE_PREFIX = "google.workspace.events.subscription.v1."
REMINDER = LIFECYCLE_PREFIX + "expirationReminder"
SUSPENDED = LIFECYCLE_PREFIX + "suspended"
EXPIRED = LIFECYCLE_PREFIX + "expired"
