"""A QEMU guest for tests: Debian's kernel (linux-image-amd64, /boot/vmlinuz-*) and an initramfs
built at test time from installed packages only: busybox-static, the virtio-net modules of that
kernel (/lib/modules/<version>/) and tests/guest/init.sh as /init. The cpio (the kernel's "newc"
format, Documentation/driver-api/early-userspace/buffer-format.rst) is written here, so no
cpio/mkinitramfs tool is needed and nothing outside the tmp dir is written.
"""

from __future__ import annotations

import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSYBOX = Path("/bin/busybox")
# virtio-net and what it needs, in the order they must be inserted (busybox insmod resolves
# no dependencies): the ring, the bus, the PCI transport (legacy + modern), then the driver
MODULES = ("virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net")


@dataclass(frozen=True)
class Guest:
    kernel: Path
    initrd: Path
    version: str


def missing() -> str | None:
    """Why a guest cannot be built here (a package to install), or None."""
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
    if not BUSYBOX.exists() or b"ld-linux" in BUSYBOX.read_bytes()[:8192]:
        return "a static busybox is missing (apt-get install busybox-static)"
    if find_kernel() is None:
        return "no Debian kernel with virtio_net in /boot + /lib/modules (apt-get install linux-image-amd64)"
    return None


def _module(version: str, name: str) -> Path | None:
    found = sorted(Path(f"/lib/modules/{version}/kernel").rglob(f"{name}.ko"))
    return found[0] if found else None


def find_kernel() -> tuple[Path, str] | None:
    """The newest /boot/vmlinuz-VERSION whose modules include every one in MODULES (uncompressed
    .ko, as Debian 12 ships them)."""
    def key(p: Path) -> list[int]:
        return [int(n) for n in re.findall(r"\d+", p.name)]
    for kernel in sorted(Path("/boot").glob("vmlinuz-*"), key=key, reverse=True):
        version = kernel.name.removeprefix("vmlinuz-")
        if all(_module(version, m) for m in MODULES):
            return kernel, version
    return None


def _entry(ino: int, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc record: "070701", 13 8-digit hex fields, the NUL-terminated name, padding to 4,
    the data, padding to 4."""
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def build(tmp: Path) -> Guest:
    """Write tmp/initrd.cpio; the kernel is used from /boot as it is."""
    found = find_kernel()
    if found is None:
        raise RuntimeError(missing() or "no kernel")
    kernel, version = found
    dirs = ["bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"]
    files: list[tuple[str, int, bytes]] = [
        ("init", 0o755, (HERE / "init.sh").read_bytes()),
        ("bin/busybox", 0o755, BUSYBOX.read_bytes()),
    ]
    for m in MODULES:
        path = _module(version, m)
        assert path is not None
        files.append((f"lib/modules/{m}.ko", 0o644, path.read_bytes()))
    out = bytearray()
    ino = 1
    for d in dirs:
        out += _entry(ino, d, stat.S_IFDIR | 0o755)
        ino += 1
    # the kernel opens /dev/console for init before any devtmpfs is mounted: without this node
    # init runs with no stdout and the serial console stays silent
    out += _entry(ino, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    ino += 1
    for name, mode, data in files:
        out += _entry(ino, name, stat.S_IFREG | mode, data)
        ino += 1
    out += _entry(0, "TRAILER!!!", 0)
    initrd = tmp / "initrd.cpio"
    initrd.write_bytes(bytes(out))
    return Guest(kernel=kernel, initrd=initrd, version=version)
