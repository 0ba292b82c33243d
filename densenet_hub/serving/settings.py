"""The server's default limits and batching, in one place for the app, the
`serve` command's options and the README. Imports nothing, so that the
command line can show them without the `serve` extra installed."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_WAIT_MS = 5.0
DEFAULT_MAX_QUEUE = 256
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_BODY_BYTES = 32 << 20
# A 6000x4000 photo or a large radiograph fits; a decompression bomb's
# header is refused before anything is decoded.
DEFAULT_MAX_PIXELS = 25_000_000
# Past the request timeout, requests in flight have had their answer; this
# much more lets their responses go out before the server stops.
SHUTDOWN_GRACE_S = 5.0
