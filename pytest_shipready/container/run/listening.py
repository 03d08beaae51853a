"""Which TCP ports a container's processes listen on, from its ``/proc/net/tcp{,6}``.

Read inside the container's own network namespace (one exec), so it says what the
kubelet and a Service would find, whatever the engine publishes. Pure: the text in,
port -> local addresses out.
"""

from __future__ import annotations

import ipaddress

LISTEN = "0A"  # the kernel's TCP_LISTEN state, as /proc/net/tcp writes it
# What the exec runs: the two tables (``cat``), else the image's Python reads them.
CAT = ("cat", "/proc/net/tcp", "/proc/net/tcp6")
PYTHON = ("python3", "-c", "import os, sys; [sys.stdout.write(open(p).read()) for p in "
          "('/proc/net/tcp', '/proc/net/tcp6') if os.path.exists(p)]")


def _address(hex_address: str) -> str:
    """The kernel's hex address (little-endian 32-bit words) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def parse(text: str) -> dict[int, frozenset[str]]:
    """Listening TCP ports -> their local addresses ("0.0.0.0", "::", "127.0.0.1")."""
    found: dict[int, set[str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] == "sl" or fields[3] != LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        try:
            number = int(port, 16)
            found.setdefault(number, set()).add(_address(address))
        except ValueError:
            continue
    return {port: frozenset(addresses) for port, addresses in sorted(found.items())}
