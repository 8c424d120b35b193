"""In-memory fakes of the use cases' storage ports, for unit tests of the poller and the
dispatcher (issue 9). Storage itself is tested on real databases."""
