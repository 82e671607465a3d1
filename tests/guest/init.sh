#!/bin/busybox sh
# /init of the test guest (tests/guest/initramfs.py): a second, independent network stack on a
# lab network. Configured only by its kernel (SLAAC from the lab's RA); then a AAAA lookup of an
# IPv4-only name through the given resolver (DNS64) and an HTTP GET to the synthesized address
# (NAT64). Every result is one "LABSIM-GUEST <key> <value>" line on the console (ttyS0).
# Kernel command line: labsim.dns=RESOLVER labsim.name=HOST labsim.wait=SECONDS (for the RA)
# labsim.linger=SECONDS (stay up after the results, e.g. for the lab to be asked what it sees)
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

say() { echo "LABSIM-GUEST $*"; }
bye() { say done; sleep "$LINGER"; poweroff -f; }

DNS= NAME= WAIT=60 LINGER=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    labsim.dns=*) DNS=${arg#labsim.dns=} ;;
    labsim.name=*) NAME=${arg#labsim.name=} ;;
    labsim.wait=*) WAIT=${arg#labsim.wait=} ;;
    labsim.linger=*) LINGER=${arg#labsim.linger=} ;;
  esac
done
say boot "$(cut -d' ' -f1 /proc/uptime)"

# virtio-net's dependencies, in dependency order (Debian builds them as modules; no modprobe here)
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod "/lib/modules/$m.ko" || say error "insmod $m"
done
n=0
while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -e /sys/class/net/eth0 ] || { say error "no eth0"; bye; }
ip link set lo up
# SLAAC only, and keep soliciting every 4 s: the lab may come up after the guest's link does
sysctl -qw net.ipv6.conf.eth0.accept_ra=2 net.ipv6.conf.eth0.autoconf=1 \
  net.ipv6.conf.eth0.router_solicitations=-1 net.ipv6.conf.eth0.router_solicitation_max_interval=4
ip link set eth0 up
say mac "$(cat /sys/class/net/eth0/address)"

# a global address of eth0 whose DAD is over: /proc/net/if_inet6 "ADDR IDX PLEN SCOPE FLAGS DEV",
# scope 00 = global, flags 0x40 tentative / 0x08 DAD failed
global() {
  while read -r addr idx plen scope flags dev; do
    [ "$dev" = eth0 ] && [ "$scope" = 00 ] && [ $((0x$flags & 0x48)) -eq 0 ] || continue
    echo "$addr" | sed 's/\(....\)/\1:/g; s/:$//'
    return 0
  done < /proc/net/if_inet6
  return 1
}
end=$(( $(cut -d. -f1 /proc/uptime) + WAIT ))
ADDR=
while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
  ADDR=$(global) && break
  sleep 0.2
done
[ -n "$ADDR" ] || { say error "no SLAAC address in ${WAIT}s"; bye; }
say slaac "$ADDR" "$(cut -d' ' -f1 /proc/uptime)"
say route "$(ip -6 route show default | head -n1)"

# the AAAA of the IPv4-only name, from the resolver (DNS64 synthesizes it); a few tries, the
# resolver may still be starting
AAAA=
for try in 1 2 3 4 5 6 7 8 9 10; do
  AAAA=$(timeout 5 nslookup -type=aaaa "$NAME" "$DNS" 2>/dev/null | awk '/^Name:/ {n = 1} n && /^Address/ {print $2; exit}')
  [ -n "$AAAA" ] && break
  sleep 1
done
[ -n "$AAAA" ] || { say error "no AAAA for $NAME from $DNS"; bye; }
say aaaa "$NAME" "$AAAA"

# HTTP/1.0 GET with busybox nc (Debian's static busybox wget segfaults); the server closes
for try in 1 2 3 4 5; do
  printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$NAME" | timeout 10 nc -w 5 "$AAAA" 80 > /tmp/resp 2>/dev/null
  [ -s /tmp/resp ] && break
  sleep 1
done
say http "$(head -n1 /tmp/resp | tr -d '\r')"
# the body on one line (the backend's JSON echo)
say body "$(sed '1,/^\r*$/d' /tmp/resp | tr -d '\r\n')"
bye
