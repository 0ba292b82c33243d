"""Keeps the hub tests on the loopback interface.

An audit hook sees every `socket.connect` and `socket.getaddrinfo` in the
process. While armed it records them and refuses, before any packet leaves,
those that name anything but a loopback address. Tests then assert both that
nothing was refused and how many connections were made (zero for a cache hit).

Names under `.invalid` (RFC 2606: never resolvable) are answered here with
the resolver's "name not known" error, recorded as a lookup and not refused:
tests of an unresolvable host then see what a real failed lookup gives,
and no DNS query leaves the machine.
"""

import contextlib
import ipaddress
import socket
import sys

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class Record:
    """What the guard saw while armed: `(event, host, port)` triples."""

    def __init__(self):
        self.connections = []
        self.lookups = []
        self.refused = []


_armed = []


def is_loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def is_invalid_name(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return isinstance(host, str) and host.lower().rstrip(".").endswith(".invalid")


def audit(event, args):
    """The audit hook: a no-op unless a `loopback_only` block is active."""
    if not _armed:
        return
    record = _armed[-1]
    if event == "socket.connect":
        sock, address = args
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        host, port = address[0], address[1]
        record.connections.append((event, host, port))
    elif event == "socket.getaddrinfo":
        host, port = args[0], args[1]
        record.lookups.append((event, host, port))
    else:
        return
    if event == "socket.getaddrinfo" and is_invalid_name(host):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if not is_loopback(host):
        record.refused.append((event, host, port))
        raise PermissionError(f"loopback guard: refused {event} to {host!r}:{port}")


sys.addaudithook(audit)


@contextlib.contextmanager
def loopback_only():
    """Arm the guard for the block; yields the `Record` it fills."""
    record = Record()
    _armed.append(record)
    try:
        yield record
    finally:
        _armed.remove(record)
