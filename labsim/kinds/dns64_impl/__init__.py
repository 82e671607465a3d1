"""The daemons behind the `dns64` kind, one module each, registered by name (in this order)."""

from labsim.kinds.dns64_impl import unbound, bind9, knot, pdns_recursor  # each module registers its implementation
from labsim.kinds.dns64_impl.common import IMPLEMENTATIONS, Implementation

__all__ = ["IMPLEMENTATIONS", "Implementation", "unbound", "bind9", "knot", "pdns_recursor"]
