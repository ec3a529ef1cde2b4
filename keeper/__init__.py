"""The keeper's domain: models, pure decisions, the Firestore store, the sweep and the CLI."""
