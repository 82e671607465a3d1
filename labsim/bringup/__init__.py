"""Lab bring-up on the host: the lab session (up/down/gc), readiness, the lab CA, impairments,
file watching. Runtime-neutral: it reaches a runtime only through `labsim.runtime`."""
