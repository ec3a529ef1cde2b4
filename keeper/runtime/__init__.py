"""What an instance runs on: the configuration, the composition root and the JSON logs."""
