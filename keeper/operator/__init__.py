"""The operator's tools: the CLI (`python -m keeper`), the report, doctor and the dead letters."""
