"""`cloudapi`: a cloud provider's APIs inside the lab — moto's server (S3, SQS, EC2, ...).

moto (`moto[server]`, the `cloud` extra) answers the AWS API for every service on one port,
telling services apart by the request's signature, so every endpoint name a scenario
publishes (`s3.eu-central-1.amazonaws.com`, `s3.dualstack.eu-central-1.amazonaws.com`, ...)
can point at this one node. It serves HTTPS with a lab-CA certificate naming the node's
`names` (or `tls_names`), so the real SDK verifies it as it would the provider's.

Those names exist only in the lab's own DNS (an authdns zone per provider domain): with no
uplink nothing is ever looked up outside. moto (through `labsim.kinds.cloudserve`) runs on
labsim's own interpreter in the node: on netns the venv's python (the `cloud` extra installed
there); on docker the image's python3 (moto and boto3 from docker/node-python.txt).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labsim.kinds.base import Kind, NodeContext, Service, TcpProbe, TlsRequest
from labsim.kinds.common import base_files, https_certificate
from labsim.model.topology import NodeBase
from labsim.model.types import TlsName
from labsim.node.privdrop import GROUP, USER


class Schema(NodeBase):
    kind: Literal["cloudapi"]
    https_port: int = Field(443, ge=1, le=65535)
    tls_names: list[TlsName] | None = Field(None, max_length=64)  # default: names + node name + addresses


class CloudApi(Kind):
    name = "cloudapi"
    schema = Schema
    packages = ("python3",)
    # moto's server runs in the node; the scenarios' client is the real AWS SDK
    python_modules = {"moto": "cloud", "werkzeug": "cloud", "boto3": "cloud"}

    def render(self, ctx: NodeContext) -> dict[str, str]:
        return base_files(ctx)

    def tls(self, ctx: NodeContext) -> TlsRequest | None:
        return https_certificate(ctx)

    def services(self, ctx: NodeContext) -> list[Service]:
        tls = self.tls(ctx)
        # `::` listens on both families (the node's bindv6only is 0): the A-only default
        # endpoints arrive over IPv4 through NAT64, the dual-stack ones over IPv6
        host = "::" if ctx.node.addresses(6) else "0.0.0.0"
        # moto's server through labsim.kinds.cloudserve: binds the port and reads the key as
        # root, then serves as nobody
        assert tls is not None  # https_port is set: https_certificate asks for one
        argv = [ctx.python, "-m", "labsim.kinds.cloudserve", "--host", host, "--port", str(ctx.spec.https_port),
                "--cert", f"{ctx.dir}/{tls.cert}", "--key", f"{ctx.dir}/{tls.key}",
                "--user", USER, "--group", GROUP]
        return [Service("moto", argv)]

    def probes(self, ctx: NodeContext):
        addrs = ctx.node.addresses(6) or ctx.node.addresses()
        return [TcpProbe(addrs[0], ctx.spec.https_port)]
