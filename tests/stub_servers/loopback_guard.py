"""Keeps the hub tests on the loopback interface.

An audit hook sees every `socket.connect` and `socket.getaddrinfo` in the
process. While armed it records them and refuses, before any packet leaves,
those that name anything but a loopback address. Tests then assert both that
nothing was refused and how many connections were made (zero for a cache hit).

Names under `.invalid` (RFC 2606: never resolvable) are answered here with
the resolver's "name not known" error, recorded as a lookup and not refused:
tests of an unresolvable host then see what a real failed lookup gives,
and no DNS query leaves the machine.

The hook sees Python's sockets only. huggingface_hub hands Xet transfers
(downloads of files whose answer carries `X-Xet-Hash`, and every LFS upload)
to `hf_xet`, native code whose sockets no audit hook sees. So while armed the
guard also switches Xet off with huggingface_hub's own knob,
`HF_HUB_DISABLE_XET` (the variable, for a huggingface_hub imported later,
and `huggingface_hub.constants.HF_HUB_DISABLE_XET`, which it read at import
and consults on every transfer); huggingface_hub then downloads and uploads
over plain HTTP, which the hook does see. tests/hub/test_xet.py checks that
this holds against a stub that answers with the Hub's Xet headers.
"""

import contextlib
import ipaddress
import os
import socket
import sys

XET_SWITCH = "HF_HUB_DISABLE_XET"

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
    """Arm the guard, with Xet off, for the block; yields the `Record` it fills."""
    record = Record()
    with xet_off():
        _armed.append(record)
        try:
            yield record
        finally:
            _armed.remove(record)


@contextlib.contextmanager
def xet_off():
    """Switch huggingface_hub's Xet transfers off for the block, and back to
    what the environment says afterwards."""
    before = os.environ.get(XET_SWITCH)
    constants = sys.modules.get("huggingface_hub.constants")
    constant_before = getattr(constants, XET_SWITCH, None)
    os.environ[XET_SWITCH] = "1"
    if constants is not None:
        setattr(constants, XET_SWITCH, True)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(XET_SWITCH, None)
        else:
            os.environ[XET_SWITCH] = before
        # huggingface_hub may have been imported inside the block, reading
        # the switch as on: put back what the restored environment means.
        constants = sys.modules.get("huggingface_hub.constants")
        if constants is not None:
            if constant_before is None:
                constant_before = (before or "").upper() in {"1", "ON", "YES", "TRUE"}
            setattr(constants, XET_SWITCH, constant_before)
