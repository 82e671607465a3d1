"""The daemons behind the `dns64` kind, one module each, registered by name (in this order)."""

# each module registers its implementation; the order is the registration order (isort would change it)
from labsim.kinds.dns64_impl import unbound  # isort: skip
from labsim.kinds.dns64_impl import bind9  # isort: skip
from labsim.kinds.dns64_impl import knot  # isort: skip
from labsim.kinds.dns64_impl import pdns_recursor  # isort: skip
from labsim.kinds.dns64_impl.common import IMPLEMENTATIONS, Implementation

__all__ = ["IMPLEMENTATIONS", "Implementation", "unbound", "bind9", "knot", "pdns_recursor"]
