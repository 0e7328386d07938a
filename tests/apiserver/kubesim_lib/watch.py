"""Watch streams: initial events, live events from the store's history (with selector
transitions), bookmarks, 410 Expired as an ERROR event, timeoutSeconds."""
import json
import select
import socket
import ssl
import time

from . import errors as E
from . import tables
from .selectors import Selector

JSON = "application/json"


class Stream:
    """A chunked response: gen yields bytes chunks (one JSON event line each)."""

    def __init__(self, gen, ctype=JSON):
        self.code, self.gen, self.ctype = 200, gen, ctype


# an idle watch wakes this often to notice that its client went away
IDLE_SLICE = 0.1


def client_gone(sock):
    """True when the peer of sock closed the connection (or it broke). Only called on a
    watch's connection, where the client has no business sending anything: readable means EOF, a TLS
    close_notify, or a reset. Plain sockets are peeked at (recv(1, MSG_PEEK) == b""); a TLS
    socket cannot peek, so it reads non-blocking: b"" is a close_notify or EOF, and a partial
    record (SSLWantReadError) means alive."""
    if sock is None:
        return False
    try:
        r, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not r:
        return False
    try:
        if isinstance(sock, ssl.SSLSocket):
            prev = sock.gettimeout()  # the handler's idle timeout: put it back
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            finally:
                sock.settimeout(prev)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
        return False
    except (OSError, ValueError):
        return True


def stream(store, q, accept, res, ns, bookmark_interval, stopping, conn=None):
    """The watch of res (in namespace ns, "" for all) asked for by query q; conn is the client's
    socket, checked whenever the watch wakes so that an abandoned one ends within IDLE_SLICE."""
    sel = Selector(q.get("labelSelector"), q.get("fieldSelector"), res.kind)
    try:
        timeout = float(q.get("timeoutSeconds") or 1800)
    except ValueError:
        raise E.bad_request("invalid timeoutSeconds")
    bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
    send_initial = q.get("sendInitialEvents") == "true"
    rv_param = q.get("resourceVersion") or ""
    as_table = tables.wants_table(accept)
    with store.lock:
        if rv_param in ("", "0") or send_initial:
            items, start = store.list(res, ns or None)
            initial = [o for o in items if sel.match(o)]
            too_old = None
        else:
            try:
                start = int(rv_param)
            except ValueError:
                raise E.bad_request('invalid resource version: strconv.ParseUint: parsing "%s": invalid syntax'
                                    % rv_param)
            initial = []
            too_old = store.too_old(res, start)
    deadline = time.monotonic() + timeout
    bm_every = bookmark_interval

    def line(type_, obj):
        if res.custom and type_ != "BOOKMARK" and type_ != "ERROR" and obj.get("apiVersion") != res.api_version:
            obj = dict(obj, apiVersion=res.api_version)  # one table for every version (conversion None)
        if as_table and type_ != "BOOKMARK" and type_ != "ERROR":
            obj = tables.table(res, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
        return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def bookmark(rv, initial_end=False):
        md = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {"k8s.io/initial-events-end": "true"}
        return line("BOOKMARK", {"kind": res.kind, "apiVersion": res.api_version, "metadata": md})

    def visible(obj):
        return (not ns or obj["metadata"].get("namespace", "") == ns) and sel.match(obj)

    def gen():
        cur = start
        if too_old:
            yield line("ERROR", E.expired(too_old).status())
            return
        for o in initial:
            yield line("ADDED", o)
        if send_initial and bookmarks:
            yield bookmark(cur, True)
        last_sent = time.monotonic()
        while not stopping.is_set():
            try:
                evs, latest = store.events_after(cur, res)
            except ValueError as e:
                yield line("ERROR", E.expired(str(e)).status())
                return
            for ev in evs:
                new_in = visible(ev.obj)
                old_in = ev.old is not None and visible(ev.old)
                if ev.type == "ADDED" and new_in:
                    yield line("ADDED", ev.obj)
                elif ev.type == "DELETED" and (new_in or old_in):
                    yield line("DELETED", ev.obj)
                elif ev.type == "MODIFIED":
                    if new_in and old_in:
                        yield line("MODIFIED", ev.obj)
                    elif new_in:
                        yield line("ADDED", ev.obj)
                    elif old_in:
                        yield line("DELETED", ev.obj)  # moved out of the selection
                last_sent = time.monotonic()
            cur = max(cur, latest)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if bookmarks and time.monotonic() - last_sent >= bm_every:
                yield bookmark(cur)
                last_sent = time.monotonic()
            # wait for an event of res in short slices, checking the client between them
            until = time.monotonic() + min(left, bm_every if bookmarks else 1.0)
            while True:
                seen = store.wait(res, cur, max(0.0, min(IDLE_SLICE, until - time.monotonic())))
                if store.closed or not store.serves(res):
                    return
                # checked on every wake, events or not: a busy resource would otherwise keep
                # abandoned watches alive, each woken (and scanning history) by every write
                if client_gone(conn):
                    return
                if store.events_pending(res, cur) or time.monotonic() >= until:
                    break
                cur = max(cur, seen)
    return Stream(gen())
