"""The sweep, the safety net for what lifecycle events miss: the run, its plan, its pacing
under the API quota and its fan-out in shards."""
