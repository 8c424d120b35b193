"""Source adapters: where statements come from, and how their bodies are read."""
