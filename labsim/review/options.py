"""What a review is asked to do, typed once at the edge (the CLI, a benchmark, a test) and
passed whole: `run_review` and the `labsim review` command take a ReviewOptions instead of a
dozen loose parameters. Checked when built: a bad value is an InputError naming the option."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from labsim.errors import InputError
from labsim.runtime.records import DEFAULT as DEFAULT_RUNTIME

NETWORKS = ("dns64-nat64", "ipv6-only")
CAPTURES = ("failed", "all", "none")
BODY_REPORT_BYTES = 4096  # a response body in the JSON report, unless full_bodies


@dataclass(frozen=True)
class ReviewOptions:
    client: str | None = None  # the node to run from; None: the first IPv6-only client
    networks: tuple[str, ...] = NETWORKS
    timeout: float = 5.0  # seconds per request
    uplink: bool = False  # the NAT64 node reaches the outside (slirp4netns); --follow is guarded
    resolve: Mapping[str, str] = field(default_factory=dict)  # name -> address, in the lab's DNS
    platforms: tuple[str, ...] = ("linux",)
    follow: int = 0  # hops of --follow; 0: off
    capture: str = "none"  # failed, all, none
    # where pcaps go; None: a new temporary directory (labsim.review.run.captures_dir)
    capture_dir: Path | None = None
    runtime: str = DEFAULT_RUNTIME
    full_bodies: bool = False  # the JSON report keeps whole bodies (else BODY_REPORT_BYTES)

    def __post_init__(self) -> None:
        bad = [n for n in self.networks if n not in NETWORKS]
        if bad:
            raise InputError(f"--network {bad[0]!r}: choose from {', '.join(NETWORKS)}")
        if self.capture not in CAPTURES:
            raise InputError(f"--capture {self.capture!r}: use failed, all or none")
        if not 0 <= self.follow <= 5:
            raise InputError(f"--follow {self.follow}: expected 0 to 5 hops")
        if not self.timeout > 0:
            raise InputError(f"--timeout {self.timeout}: expected a positive number of seconds")
        # frozen all the way down: a caller's dict cannot change the options afterwards
        object.__setattr__(self, "resolve", MappingProxyType(dict(self.resolve)))
        object.__setattr__(self, "networks", tuple(self.networks))
        object.__setattr__(self, "platforms", tuple(self.platforms))


@dataclass(frozen=True)
class ReviewOutputs:
    """Where `labsim review` writes its reports besides the console."""

    json: Path | None = None
    html: Path | None = None
    junit: Path | None = None
