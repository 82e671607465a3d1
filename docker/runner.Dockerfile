# The labsim runner image (labsim/labsim:<version>): labsim itself on top of the node image
# (which has every daemon), entrypoint `labsim`, the netns runtime inside the container:
#   docker run --rm --privileged -v "$PWD:/lab" -w /lab labsim/labsim:<version> run scenarios/
# Built by `labsim image build --runner` (labsim/runner_image.py), which passes BASE (the node
# image) and a context holding `site/`: the labsim package and its dependencies, installed
# for the image's Python on the host (no pip inside; apt reaches the archive for slirp4netns).
ARG BASE=labsim/node:0.1.0
FROM ${BASE}
# first: every layer this build makes carries a label the node image lacks, so none of
# them passes for the node image (runtime/docker/image.py `_is_ours`); while the build runs,
# its newest layer is a dangling image in Docker's default listing, labels inherited and no
# entrypoint yet, and a docker bring-up at that moment started its nodes from it
LABEL labsim.runner.layer="1"
# slirp4netns: `labsim review --uplink` (a host service on the docker runtime, so not in the node image);
# tcpdump (and the tcpdump user it drops to): the packet captures of failed steps
RUN set -eu; printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends slirp4netns tcpdump; \
    apt-get clean; rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY site /opt/labsim-runner
ENV PYTHONPATH=/opt/labsim-runner PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COLUMNS=150
WORKDIR /lab
ENTRYPOINT ["python3", "-m", "labsim.commands.entry"]
CMD ["--help"]
