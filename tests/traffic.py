#!/usr/bin/env python3
"""Host-side peers for tests/load.bats and tests/faults.bats (the guest is builtin:selftest;
its side is described in firmware/README.md). Each mode prints "ready" once it listens, then
one result line per connection or run. The vsock stream is the selftest's pattern: byte i of
a stream is i mod 251.

  listen PORT UDS...       accept one guest connection on each UDS_PORT: read its hello line,
                           answer "hello from host\\n", read the stream until EOF; print
                           "UDS: hello ok|BAD, N bytes, pattern ok|BAD" per socket
  sink UDS PORT            accept one guest connection on UDS_PORT, answer its hello, then
                           never read (the socket stays open until this process is killed)
  stream UDS PORT SECONDS  connect to the VM's UDS (retrying), "CONNECT PORT", send the
                           pattern for SECONDS, shut down writing, print "sent N" and the
                           guest's answer
  echo IFNAME MAC SECONDS  send frames (ethertype 0x88b5, 1514 bytes) to MAC through IFNAME,
                           up to 4 in flight, for SECONDS; count the guest's echoes; print
                           "sent S echoed E" and, if the interface vanished, "interface gone"
"""
import os
import select
import socket
import sys
import time

PAT = bytes(range(251))
ETH_P = 0x88B5


def pattern(off, n):
    reps = (off % 251 + n) // 251 + 2
    return (PAT * reps)[off % 251:off % 251 + n]


def say(*a):
    print(*a, flush=True)


def bind(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    return s


def readline(c):
    line = b""
    while not line.endswith(b"\n"):
        d = c.recv(1)
        if not d:
            break
        line += d
    return line


class Stream:
    """One guest connection of `listen`: hello line, answer, then the pattern until EOF."""

    def __init__(self, name, conn):
        self.name, self.c = name, conn
        self.hello = readline(conn).startswith(b"hello from guest")
        conn.sendall(b"hello from host\n")
        conn.setblocking(False)
        self.n, self.ok = 0, True

    def feed(self):
        try:
            d = self.c.recv(1 << 16)
        except BlockingIOError:
            return False
        if d:
            self.ok = self.ok and d == pattern(self.n, len(d))
            self.n += len(d)
            return False
        say("%s: hello %s, %d bytes, pattern %s" % (self.name, "ok" if self.hello else "BAD",
                                                    self.n, "ok" if self.ok else "BAD"))
        self.c.close()
        return True


def listen(port, paths):
    ls = {bind("%s_%s" % (p, port)): p for p in paths}
    say("ready")
    streams, deadline = {}, time.time() + 300
    while (ls or streams) and time.time() < deadline:
        r, _, _ = select.select(list(ls) + list(streams), [], [], 1)
        for s in r:
            if s in ls:
                c, _ = s.accept()
                c.settimeout(30)
                streams[c] = Stream(ls.pop(s), c)
                s.close()
            elif streams[s].feed():
                del streams[s]


def sink(path, port):
    l = bind("%s_%s" % (path, port))
    say("ready")
    c, _ = l.accept()
    readline(c)
    c.sendall(b"hello from host\n")
    say("accepted, not reading")
    time.sleep(600)


def connect(path):
    deadline = time.time() + 30
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def stream(path, port, seconds):
    s = connect(path)
    s.settimeout(60)
    s.sendall(b"CONNECT %d\n" % port)
    say("reply:", readline(s).decode().strip())
    n, end = 0, time.time() + seconds
    while time.time() < end:
        n += s.send(pattern(n, 16384))
    s.shutdown(socket.SHUT_WR)
    say("sent %d" % n)
    ans = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        ans += d
    say("answer:", ans.decode().strip())


def echo(ifname, mac, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P))
    s.bind((ifname, 0))
    dst = bytes.fromhex(mac.replace(":", ""))
    src = bytes.fromhex("02aabbccddee")
    frame = dst + src + b"\x88\xb5" + b"microvm selftest echo" + bytes(1514 - 14 - 21)
    sent = echoed = in_flight = 0
    gone = False
    say("ready")
    end = last = time.time()
    end += seconds
    while time.time() < end and not gone:
        try:
            while in_flight < 4:
                s.send(frame)
                sent += 1
                in_flight += 1
            if select.select([s], [], [], 0.2)[0]:
                f = s.recv(2048)
                if f[0:6] == src and f[6:12] == dst:
                    echoed += 1
                    in_flight -= 1
                    last = time.time()
            if time.time() - last > 1:  # frames lost (not the guest's yet): send more
                in_flight, last = 0, time.time()
        except OSError:  # ENXIO / ENODEV: the interface was deleted
            gone = True
    say("sent %d echoed %d" % (sent, echoed))
    if gone:
        say("interface gone")


def main():
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "listen":
        listen(int(a[0]), a[1:])
    elif mode == "sink":
        sink(a[0], int(a[1]))
    elif mode == "stream":
        stream(a[0], int(a[1]), float(a[2]))
    elif mode == "echo":
        echo(a[0], a[1], float(a[2]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
