"""One quick look at whether a hub's host answers, before a client's retries.

huggingface_hub retries a request whose connection fails five times with
back-off (about 24 s) before it reports anything, which is right for a
flaky connection to a reachable host and wrong for a machine that is
offline, whose host name does not resolve or whose port refuses: those
fail the same way every time. One TCP connection, to the proxy when one is
configured for the URL (as the clients would use), tells the two apart in
a few seconds; requests to a host that answers keep the clients' retries.
"""

import socket
import urllib.parse
import urllib.request

CONNECT_TIMEOUT_S = 5.0


def unreachable_reason(url, timeout=CONNECT_TIMEOUT_S):
    """Why `url`'s host (or its proxy) cannot be reached, or None if it can.

    Example:
    ```python
    import socket
    from densenet_hub.hub.reachability import unreachable_reason

    with socket.socket() as sock:  # a port just released: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reason = unreachable_reason(f"http://127.0.0.1:{port}")
    assert reason.startswith(f"cannot connect to 127.0.0.1:{port}")
    ```
    """
    target = urllib.parse.urlsplit(url)
    proxy = _proxy_for(target)
    address = urllib.parse.urlsplit(proxy) if proxy else target
    host = address.hostname
    port = address.port or (443 if address.scheme == "https" else 80)
    via = f" (the proxy for {target.hostname})" if proxy else ""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror as error:
        return f"cannot resolve the host name {host!r}{via}: {error.strerror}"
    except socket.timeout:
        return f"no answer from {host}:{port}{via} within {timeout:g} s"
    except OSError as error:
        return f"cannot connect to {host}:{port}{via}: {error.strerror or error}"


def short_cause(error):
    """Why a connection failed, in a few words, from the innermost socket
    error a client's exception wraps (`"connection refused"`), or None.

    Example:
    ```python
    from densenet_hub.hub.reachability import short_cause

    try:
        raise RuntimeError("Max retries exceeded") from ConnectionRefusedError(111, "Connection refused")
    except RuntimeError as error:
        assert short_cause(error) == "connection refused"
    ```
    """
    found = None
    seen = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return f"cannot resolve the host name ({current.strerror})"
        if isinstance(current, TimeoutError):
            found = "no answer in time"
        elif isinstance(current, OSError) and current.strerror:
            found = current.strerror[0].lower() + current.strerror[1:]
        # requests and urllib3 keep the underlying error in `reason` or
        # their arguments rather than as the cause.
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped += list(getattr(current, "args", ()))
        pending += [item for item in wrapped if isinstance(item, BaseException)]
    return found


def clipped(text, limit=200):
    """`text`'s first line, cut at a word boundary to at most `limit`
    characters (then ending with "...").

    Example:
    ```python
    from densenet_hub.hub.reachability import clipped

    assert clipped("one two three", limit=9) == "one ..."
    ```
    """
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    if len(line) <= limit:
        return line
    return line[: limit - 4].rsplit(" ", 1)[0] + " ..."


def _proxy_for(target):
    proxies = urllib.request.getproxies()
    if not proxies or urllib.request.proxy_bypass(target.hostname or ""):
        return None
    return proxies.get(target.scheme) or proxies.get("all")
