"""ctypes bindings to Debian's libsrt (`libsrt1.5-openssl`): only what the listener, a pull's caller
and a restream's sender use.

PyAV's bundled FFmpeg has no SRT, so the node speaks to libsrt directly. Option numbers and
codes are from `srt.h` 1.5; the function signatures are declared so ctypes converts
arguments instead of guessing. ctypes releases the GIL around every call, so a thread
blocked in `srt_accept` or `srt_recvmsg` does not hold up the event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import socket
import struct

LIBRARY_NAMES = ("libsrt.so.1.5", "libsrt-openssl.so.1.5", "libsrt.so")

# socket options (SRT_SOCKOPT)
SRTO_SNDSYN = 1
SRTO_RCVSYN = 2
SRTO_SNDTIMEO = 13
SRTO_RCVTIMEO = 14
SRTO_LATENCY = 23
SRTO_PASSPHRASE = 26
SRTO_PBKEYLEN = 27
SRTO_CONNTIMEO = 36
SRTO_RCVKMSTATE = 41
SRTO_RCVLATENCY = 43
SRTO_PEERLATENCY = 44
SRTO_STREAMID = 46

# socket states (SRT_SOCKSTATUS)
SRTS_LISTENING = 3

# error codes (srt_getlasterror)
SRT_EASYNCRCV = 6002  # non-blocking receive: no data yet

# reject reasons a listener callback may set (access_control.h); callers see them as is
REJECT_BAD_REQUEST = 1400
REJECT_UNAUTHORIZED = 1401
REJECT_OVERLOAD = 1402
REJECT_FORBIDDEN = 1403
REJECT_NOT_FOUND = 1404
REJECT_CONFLICT = 1409

# syslog levels used by srt_setloglevel
LOG_CRIT = 2
LOG_ERR = 3
LOG_WARNING = 4
LOG_NOTICE = 5

# srt_setlogflags: the Python logger adds its own time/thread/level
SRT_LOGF_DISABLE_TIME = 1
SRT_LOGF_DISABLE_THREADNAME = 2
SRT_LOGF_DISABLE_SEVERITY = 4
SRT_LOGF_DISABLE_EOL = 8

INVALID_SOCKET = -1

log = logging.getLogger("headwater.ingest.srt.libsrt")


# int (*)(void* opaque, SRTSOCKET ns, int hsversion, const struct sockaddr* peer, const char* streamid)
LISTEN_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
)
# void (*)(void* opaque, int level, const char* file, int line, const char* area, const char* message)
LOG_HANDLER = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p
)


class SrtError(OSError):
    """A libsrt call failed; `code` is srt_getlasterror()."""

    def __init__(self, what: str, code: int, text: str) -> None:
        super().__init__(f"{what}: {text} ({code})")
        self.code = code


def _load() -> ctypes.CDLL:
    for name in (*LIBRARY_NAMES, ctypes.util.find_library("srt")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise OSError("libsrt not found: install libsrt1.5-openssl")


def _declare(lib: ctypes.CDLL) -> None:
    c_int, c_void_p, c_char_p = ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
    signatures = {
        "srt_startup": ([], c_int),
        "srt_cleanup": ([], c_int),
        "srt_create_socket": ([], c_int),
        "srt_bind_acquire": ([c_int, c_int], c_int),
        "srt_listen": ([c_int, c_int], c_int),
        "srt_accept": ([c_int, c_void_p, ctypes.POINTER(c_int)], c_int),
        "srt_connect": ([c_int, c_char_p, c_int], c_int),
        "srt_close": ([c_int], c_int),
        "srt_setsockflag": ([c_int, c_int, c_void_p, c_int], c_int),
        "srt_recvmsg": ([c_int, c_char_p, c_int], c_int),
        "srt_send": ([c_int, c_void_p, c_int], c_int),  # a buffer's address: no copy of each message
        "srt_getlasterror": ([ctypes.POINTER(c_int)], c_int),
        "srt_getlasterror_str": ([], c_char_p),
        "srt_clearlasterror": ([], None),
        "srt_listen_callback": ([c_int, LISTEN_CALLBACK, c_void_p], c_int),
        "srt_setrejectreason": ([c_int, c_int], c_int),
        "srt_getsockstate": ([c_int], c_int),
        "srt_setloglevel": ([c_int], None),
        "srt_setlogflags": ([c_int], None),
        "srt_setloghandler": ([c_void_p, LOG_HANDLER], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype


lib = _load()
_declare(lib)


def last_error() -> tuple[int, str]:
    code = lib.srt_getlasterror(None)
    text = (lib.srt_getlasterror_str() or b"").decode(errors="replace")
    return code, text


def check(result: int, what: str) -> int:
    """Raise SrtError when a libsrt call returned SRT_ERROR (-1)."""
    if result == -1:
        code, text = last_error()
        raise SrtError(what, code, text)
    return result


def set_int(sock: int, option: int, value: int) -> None:
    number = ctypes.c_int(value)
    check(lib.srt_setsockflag(sock, option, ctypes.byref(number), ctypes.sizeof(number)), f"option {option}")


def set_bytes(sock: int, option: int, value: bytes) -> None:
    check(lib.srt_setsockflag(sock, option, ctypes.c_char_p(value), len(value)), f"option {option}")


def peer_text(pointer: int | None) -> str:
    """'ip:port' of an IPv4/IPv6 sockaddr pointer, '?' when unknown."""
    if not pointer:
        return "?"
    family = ctypes.c_ushort.from_address(pointer).value
    if family == socket.AF_INET:
        raw = ctypes.string_at(pointer, 8)
        port = struct.unpack(">H", raw[2:4])[0]
        return f"{socket.inet_ntoa(raw[4:8])}:{port}"
    if family == socket.AF_INET6:
        raw = ctypes.string_at(pointer, 24)
        port = struct.unpack(">H", raw[2:4])[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{port}"
    return "?"


# libsrt's "errors" are mostly one caller's failed handshake (e.g. a wrong passphrase): a
# warning for the node, which keeps running
_LEVELS = {LOG_CRIT: logging.ERROR, LOG_ERR: logging.WARNING, LOG_WARNING: logging.INFO}


def _expected(text: str) -> bool:
    """What libsrt calls an error when closing the listener wakes srt_accept: how the node stops."""
    return text.startswith("srt_accept: listener socket") and text.endswith("is already closed")


@LOG_HANDLER
def _log_handler(opaque, level, file, line, area, message) -> None:
    text = (message or b"").decode(errors="replace").strip().lstrip(":").strip()
    log.log(logging.DEBUG if _expected(text) else _LEVELS.get(level, logging.INFO), "libsrt: %s", text)


def route_logs(level: int = LOG_ERR) -> None:
    """Send libsrt's own log (stderr by default) to the Python logger, errors only.

    Warnings and notices from libsrt come per packet under bad input (e.g. random
    datagrams), which would flood the node's log.
    """
    lib.srt_setloglevel(level)
    lib.srt_setlogflags(
        SRT_LOGF_DISABLE_TIME | SRT_LOGF_DISABLE_THREADNAME | SRT_LOGF_DISABLE_SEVERITY | SRT_LOGF_DISABLE_EOL
    )
    lib.srt_setloghandler(None, _log_handler)
