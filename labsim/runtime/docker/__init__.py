"""The docker runtime: one container per node, plumbed exactly like the netns runtime.

Each node is a container `ls-<lab>_<node>` from the labsim node image (every daemon
installed; `labsim image build`), started with no Docker network (`--network none`), an
init (`--init`, tini) and labsim's launcher (`labsim.node.launcher`, which becomes `sleep infinity`
once bring-up is done). The containers start all at once (each start is ~0.17 s of CPU in
dockerd, containerd and runc: the floor of a docker bring-up); the hub's bridges are made
and each node is wired while the others still start. Its network namespace (`/proc/<pid>/ns/net` of
that init) gets the same veth pairs, addresses and routes as a netns node, through the same
`links` code, from the same hub: a plain network namespace `ls-<lab>` holding one bridge per
network. The hub stays a bare namespace because it runs nothing: a container would add
~0.3 s and a root file system for a handful of bridges, and the netns teardown already
removes it.

Files: a container sees only its own parts of the lab directory (/run/labsim/<lab>), each at
the same path, so configs that name absolute paths in the node directory work unchanged: its
node directory `nodes/<node>` (read-write), its `/etc` files `etc/<node>` (read-only in a
user's image) and the lab's shared `ssl` (read-only). Never the lab directory itself: the
state file `down` works from, the lab CA's key and other nodes' files are out of every
container's reach (a node must not steer teardown). A file for `/etc/X` is written
to `<lab>/etc/<node>/X` on the host and bind-mounted over `/etc/X` inside the container
(nsenter into its mount namespace), so resolv.conf and hosts are the lab's, not Docker's; a
`shared` lab-level path (the lab CA's /etc/ssl) is bind-mounted the same way. Rewriting a
file later writes it in place, and the node sees the change at once.

Processes: during bring-up, `exec` and `spawn` go through the container's launcher
(`labsim.node.launcher`, reached on an abstract unix socket in the container's network namespace): a
fork inside the container instead of a `docker exec` (~5 ms instead of ~50-70 ms). It is
the container's own process, so what it starts has exactly what `docker exec` gives
(capabilities, seccomp and AppArmor profile, no-new-privileges, cgroup, namespaces,
environment); nothing is entered from the host, no privilege is handed over. Afterwards
(and for nodes from a user's image, which run no labsim code) they are `docker exec`.
`spawn` returns the host PID of the daemon (SCM_CREDENTIALS of its last message before
exec, or the exec's inspect), usable for liveness and fd probes and for signals. `host` services
(slirp4netns) run on the host with `{netns}` = `/proc/<container pid>/ns/net`. The labsim
package is bind-mounted read-only at /opt/labsim/labsim with PYTHONPATH=/opt/labsim, so
labsim's in-node programs (`labsim.node.agent`, `labsim.node.echo_server`, ...; `nodeprog`)
run on the image's own python3 (standard library only); an argv naming the host's
interpreter (`sys.executable`) is run with that `python3`, and the host's source root
(`nodeprog.SRC`) becomes /opt/labsim.

Every container is recorded in the state file before it is created and carries the labels
`labsim.lab` and `labsim.node`; `destroy_docker_state` removes containers and Docker networks
that have both the lab's label and its name prefix `ls-<lab>_`, then the hub, host processes
and files (netns's `destroy_state`), from the state file alone.

Modules: client (the SDK, one error when docker is unreachable, labels), runtime
(DockerRuntime), networks (Docker-network mode), exec_stream (`docker exec` through the API),
labsim.node.launcher (in the container) and agentconn (its host end),
mountns (bind mounts inside a container), teardown (from the state file alone), and the
node image: image_spec + apt_sources (pure: names, hashes, sources), rootfs (the debootstrap
tree's lifetime), image (build, status).
"""

from __future__ import annotations

from labsim.runtime.docker.client import LABEL_LAB, LABEL_NODE, container_name, docker_client
from labsim.runtime.docker.networks import DockerNet, remove_networks
from labsim.runtime.docker.runtime import HOST_BINARIES, DockerRuntime
from labsim.runtime.docker.teardown import container_labs, destroy_docker_state, lab_containers, remove_containers

__all__ = ["DockerRuntime", "DockerNet", "HOST_BINARIES", "LABEL_LAB", "LABEL_NODE", "container_labs",
           "container_name", "destroy_docker_state", "docker_client", "lab_containers",
           "remove_containers", "remove_networks"]
