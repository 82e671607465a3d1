"""labsim: network lab and test harness for IPv6-only readiness."""

__version__ = "0.1.0"
