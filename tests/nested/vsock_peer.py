#!/usr/bin/python3
"""The host's half of tests/nested/vsock.bats, over Firecracker's vsock unix-socket protocol.

usage: vsock_peer.py UDS_PATH BLOB_FILE  (runs until the guest's last step, prints one line per
check). Guest-initiated connections to port P arrive on UDS_PATH_P; host-initiated ones connect
to UDS_PATH and send "CONNECT P\\n", answered "OK <host port>\\n".
  port 5000: receive one stream until EOF; print its length and sha256
  port 5001: 33 connections, each: read one line, answer "ack <line>", close
  port 5002: host -> guest: connect (retrying until the guest listens), send BLOB_FILE
  port 5003: read 1 MiB of the guest's stream, then close mid-stream
"""
import hashlib
import os
import socket
import sys
import threading
import time

UDS, BLOB = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def say(*words):
    with lock:
        print(*words, flush=True)


def listener(port):
    path = f"{UDS}_{port}"
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(64)
    return s


def recv_all(c):
    h, n = hashlib.sha256(), 0
    while chunk := c.recv(1 << 16):
        h.update(chunk)
        n += len(chunk)
    return n, h.hexdigest()


def port_5000(s):
    c, _ = s.accept()
    n, digest = recv_all(c)
    c.close()
    say("5000 received", n, digest)


def answer(c):
    line = b""
    while not line.endswith(b"\n") and (chunk := c.recv(64)):
        line += chunk
    c.sendall(b"ack " + line)
    c.close()


def port_5001(s):
    threads = []
    for _ in range(33):
        c, _ = s.accept()
        t = threading.Thread(target=answer, args=(c,))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    say("5001 answered", len(threads))


def port_5002():
    deadline = time.time() + 300
    while time.time() < deadline:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(UDS)
            c.sendall(b"CONNECT 5002\n")
            reply = b""
            while not reply.endswith(b"\n") and (chunk := c.recv(1)):
                reply += chunk
        except OSError:
            reply = b""
        if reply.startswith(b"OK "):
            with open(BLOB, "rb") as f:
                c.sendfile(f)
            c.shutdown(socket.SHUT_WR)
            recv_all(c)
            c.close()
            say("5002 sent", os.path.getsize(BLOB))
            return
        c.close()
        time.sleep(0.5)
    say("5002 the guest never listened")


def port_5003(s):
    c, _ = s.accept()
    got = 0
    while got < (1 << 20) and (chunk := c.recv(min(1 << 16, (1 << 20) - got))):
        got += len(chunk)
    c.close()
    say("5003 closed after", got)


socks = {p: listener(p) for p in (5000, 5001, 5003)}
jobs = [
    threading.Thread(target=port_5000, args=(socks[5000],)),
    threading.Thread(target=port_5001, args=(socks[5001],)),
    threading.Thread(target=port_5003, args=(socks[5003],)),
    threading.Thread(target=port_5002),
]
for j in jobs:
    j.daemon = True
    j.start()
say("peer ready")
for j in jobs:
    j.join()
