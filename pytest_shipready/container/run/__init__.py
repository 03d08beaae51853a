"""Running the image: the session and hardened containers, the smoke checks (SR30x),
readiness, the container's log, and the probes that reach it (SR520/SR521)."""
