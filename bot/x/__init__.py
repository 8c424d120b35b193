"""X accounts as sources: the plan (`plan`), the run-time budget (`budget`), search queries
(`query`) — pure — and the tweepy adapter (`source`, with its HTTP `session`)."""
