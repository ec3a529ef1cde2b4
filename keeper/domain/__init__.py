"""The domain, pure: models, outcomes, the decisions (one table) and the transitions they make,
the lifecycle event types, the failure classes and the clock's type. No I/O."""
