#!/usr/bin/env python3
"""A vhost-user front-end written for jsd's tests, without a guest.

    frontend.py SOCKET IMAGE_SIZE data     drive a virtqueue: requests good and bad
    frontend.py SOCKET IMAGE_SIZE hostile  malformed messages, each on its own connection
    frontend.py SOCKET IMAGE_SIZE writes [wce=0|wce=1]
                                           three writes and no flush (for counting the daemon's
                                           syncs from outside), after setting the config's wce

Guest memory is a memfd shared with the back-end; the rings and buffers
live in it. Prints "ok NAME" or "FAIL NAME: why" per check and exits 1
when one failed. Standard library only (Python 3.10+: os.eventfd).
"""
import mmap
import os
import select
import socket
import struct
import sys
import time

SOCK, SIZE, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
failures = 0


def check(name, cond, detail=""):
    global failures
    if cond:
        print("ok", name, flush=True)
    else:
        failures += 1
        print("FAIL", name + ":", detail, flush=True)


# vhost-user requests
GET_FEATURES, SET_FEATURES, SET_OWNER = 1, 2, 3
SET_MEM_TABLE, SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 5, 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL = 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
GET_CONFIG, SET_CONFIG = 24, 25
NEED_REPLY = 0x8

MEM = 1 << 20          # guest RAM: one region of 1 MiB at guest address 0
UVA = 0x7F0000000000   # where the "front-end" says it mapped it
QSIZE = 8
DESC, AVAIL, USED, INDIRECT, HDR, DATA = 0x0, 0x1000, 0x2000, 0x3000, 0x4000, 0x10000


class Conn:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5)
        self.s.connect(SOCK)

    def send(self, req, payload=b"", fds=(), flags=1, size=None):
        hdr = struct.pack("<III", req, flags, len(payload) if size is None else size)
        if fds:
            socket.send_fds(self.s, [hdr + payload], list(fds))
        else:
            self.s.sendall(hdr + payload)

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise EOFError("connection closed")
            b += chunk
        return b

    def reply(self, req):
        r, f, n = struct.unpack("<III", self.recv_exact(12))
        assert r == req and f & 0x4, (r, f)
        return self.recv_exact(n)

    def call(self, req, payload=b"", fds=()):
        self.send(req, payload, fds)
        return self.reply(req)

    def u64(self, req):
        return struct.unpack("<Q", self.call(req))[0]

    def closed_by_peer(self, timeout=5.0):
        """True when the back-end closes the connection (EOF) within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(4096):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def memory():
    fd = os.memfd_create("guest", 0)
    os.ftruncate(fd, MEM)
    return fd, mmap.mmap(fd, MEM)


def mem_table(fd, size=MEM, offset=0, gpa=0, uva=UVA):
    return struct.pack("<II", 1, 0) + struct.pack("<QQQQ", gpa, size, uva, offset)


class Queue:
    """Queue 0 of a set-up device, driven like a guest driver would."""

    def __init__(self, conn, mm, features):
        self.c, self.m = conn, mm
        self.kick = os.eventfd(0, os.EFD_NONBLOCK)
        self.callfd = os.eventfd(0, os.EFD_NONBLOCK)
        self.avail_idx = 0
        self.used_seen = 0
        conn.send(SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
        conn.send(SET_VRING_BASE, struct.pack("<II", 0, 0))
        conn.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + DESC, UVA + USED, UVA + AVAIL, 0))
        conn.send(SET_VRING_CALL, struct.pack("<Q", 0), [self.callfd])
        conn.send(SET_VRING_KICK, struct.pack("<Q", 0), [self.kick])
        conn.send(SET_VRING_ENABLE, struct.pack("<II", 0, 1))

    def desc(self, i, addr, length, flags, nxt=0, table=DESC):
        self.m[table + 16 * i: table + 16 * i + 16] = struct.pack("<QIHH", addr, length, flags, nxt)

    def submit(self, head):
        slot = self.avail_idx % QSIZE
        self.m[AVAIL + 4 + 2 * slot: AVAIL + 6 + 2 * slot] = struct.pack("<H", head)
        self.avail_idx = (self.avail_idx + 1) & 0xFFFF
        self.m[AVAIL + 2: AVAIL + 4] = struct.pack("<H", self.avail_idx)
        os.eventfd_write(self.kick, 1)

    def wait_used(self, timeout=5.0):
        """(id, len) of the next used element, or None when none comes within timeout."""
        deadline = time.time() + timeout
        while True:
            idx = struct.unpack("<H", self.m[USED + 2: USED + 4])[0]
            if idx != self.used_seen:
                slot = self.used_seen % QSIZE
                uid, ulen = struct.unpack("<II", self.m[USED + 4 + 8 * slot: USED + 12 + 8 * slot])
                self.used_seen = (self.used_seen + 1) & 0xFFFF
                return uid, ulen
            left = deadline - time.time()
            if left <= 0:
                return None
            select.select([self.callfd], [], [], min(left, 0.1))
            try:
                os.eventfd_read(self.callfd)
            except BlockingIOError:
                pass

    def request(self, rtype, sector, data_len=0, write_data=None, status_at=DATA - 16, head=0):
        """One request in 2 or 3 direct descriptors; returns (status, used len) or None."""
        self.m[HDR: HDR + 16] = struct.pack("<IIQ", rtype, 0, sector)
        self.m[status_at] = 0xFF
        self.desc(head, HDR, 16, 1, head + 1)
        n = head + 1
        if write_data is not None:
            self.m[DATA: DATA + len(write_data)] = write_data
            self.desc(n, DATA, len(write_data), 1, n + 1)
            n += 1
        elif data_len:
            self.desc(n, DATA, data_len, 1 | 2, n + 1)
            n += 1
        self.desc(n, status_at, 1, 2)
        self.submit(head)
        u = self.wait_used()
        if u is None:
            return None
        return self.m[status_at], u[1]


def setup(features_extra=0):
    c = Conn()
    feats = c.u64(GET_FEATURES)
    proto = c.u64(GET_PROTOCOL_FEATURES)
    c.send(SET_FEATURES, struct.pack("<Q", feats & ((1 << 32) | (1 << 30) | (1 << 28) | features_extra)))
    c.send(SET_PROTOCOL_FEATURES, struct.pack("<Q", proto & ((1 << 0) | (1 << 3) | (1 << 9))))
    c.send(SET_OWNER)
    return c, feats, proto


def data_checks():
    c, feats, proto = setup()
    check("features: VERSION_1, INDIRECT_DESC, EVENT_IDX, PROTOCOL_FEATURES, FLUSH, DISCARD, WRITE_ZEROES",
          all(feats & (1 << b) for b in (32, 28, 29, 30, 9, 13, 14)), hex(feats))
    check("protocol features: MQ, REPLY_ACK, CONFIG", all(proto & (1 << b) for b in (0, 3, 9)), hex(proto))
    check("queue count", c.u64(GET_QUEUE_NUM) == 2)
    cfg = c.call(GET_CONFIG, struct.pack("<III", 0, 60, 0) + bytes(60))
    cap, = struct.unpack_from("<Q", cfg, 12)
    blk, = struct.unpack_from("<I", cfg, 12 + 20)
    nq, = struct.unpack_from("<H", cfg, 12 + 34)
    check("config: capacity, blk_size, num_queues", (cap, blk, nq) == (SIZE // 512, 512, 2), (cap, blk, nq))
    fd, mm = memory()
    c.send(SET_MEM_TABLE, mem_table(fd), [fd], flags=1 | NEED_REPLY)
    ack = c.reply(SET_MEM_TABLE)
    check("SET_MEM_TABLE acknowledged (REPLY_ACK)", struct.unpack("<Q", ack)[0] == 0)
    os.close(fd)
    q = Queue(c, mm, feats)

    pattern = bytes((i * 7 + 3) & 0xFF for i in range(8192))
    check("OUT 8 KiB at sector 16", q.request(1, 16, write_data=pattern) == (0, 1))
    r = q.request(0, 16, data_len=8192)
    check("IN 8 KiB at sector 16: status and used length", r == (0, 8193), r)
    check("IN returns what OUT wrote", bytes(mm[DATA: DATA + 8192]) == pattern)
    check("FLUSH", q.request(4, 0) == (0, 1))
    r = q.request(8, 0, data_len=20)
    check("GET_ID", r is not None and r[0] == 0 and bytes(mm[DATA: DATA + 14]) == b"vhost_user_blk", r)
    check("IN past the end: IOERR", q.request(0, SIZE // 512, data_len=512)[0] == 1)
    check("IN straddling the end: IOERR", q.request(0, SIZE // 512 - 1, data_len=1024)[0] == 1)
    check("IN at a huge sector: IOERR", q.request(0, (1 << 64) - 1, data_len=512)[0] == 1)
    check("IN of 1000 bytes (not whole sectors): IOERR", q.request(0, 0, data_len=1000)[0] == 1)
    check("unknown request type: UNSUPP", q.request(99, 0)[0] == 2)
    # write-zeroes and discard with their 16-byte segment
    mm[DATA: DATA + 16] = struct.pack("<QII", 16, 8, 0)
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 13, 0, 0)
    q.desc(0, HDR, 16, 1, 1)
    q.desc(1, DATA, 16, 1, 2)
    q.desc(2, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("WRITE_ZEROES of 8 sectors", u is not None and mm[DATA - 16] == 0)
    r = q.request(0, 16, data_len=8192)
    check("zeroed range reads as zeros, the rest keeps its data",
          r == (0, 8193) and bytes(mm[DATA: DATA + 4096]) == bytes(4096) and bytes(mm[DATA + 4096: DATA + 8192]) == pattern[4096:])
    mm[DATA: DATA + 16] = struct.pack("<QII", 0, 8, 1)
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 11, 0, 0)
    q.desc(0, HDR, 16, 1, 1)
    q.desc(1, DATA, 16, 1, 2)
    q.desc(2, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("DISCARD with the unmap flag: UNSUPP", u is not None and mm[DATA - 16] == 2)
    mm[DATA: DATA + 16] = struct.pack("<QII", 0, 1 << 20, 0)
    q.submit(0)
    u = q.wait_used()
    check("DISCARD beyond max_discard_sectors: IOERR", u is not None and mm[DATA - 16] == 1)
    # a data buffer outside guest memory, with a good status byte
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 0, 0, 0)
    q.desc(0, HDR, 16, 1, 1)
    q.desc(1, 0x7FFF0000, 512, 1 | 2, 2)
    q.desc(2, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("IN into an address outside guest memory: IOERR", u is not None and mm[DATA - 16] == 1)
    # a buffer that starts inside guest memory and runs past its end
    q.desc(1, MEM - 256, 512, 1 | 2, 2)
    q.submit(0)
    u = q.wait_used()
    check("IN into a buffer running past the end of guest memory: IOERR", u is not None and mm[DATA - 16] == 1)
    # indirect: the whole request in a table
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 0, 0, 16)
    q.desc(0, HDR, 16, 1, 1, table=INDIRECT)
    q.desc(1, DATA, 4096, 1 | 2, 2, table=INDIRECT)
    q.desc(2, DATA - 16, 1, 2, 0, table=INDIRECT)
    q.desc(0, INDIRECT, 48, 4)
    q.submit(0)
    u = q.wait_used()
    check("IN through an indirect table", u == (0, 4097) and mm[DATA - 16] == 0 and bytes(mm[DATA: DATA + 4096]) == bytes(4096))
    # the header split over two descriptors
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 0, 0, 24)
    q.desc(0, HDR, 4, 1, 1)
    q.desc(1, HDR + 4, 12, 1, 2)
    q.desc(2, DATA, 4096, 1 | 2, 3)
    q.desc(3, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("header split over two descriptors", u == (0, 4097) and mm[DATA - 16] == 0 and bytes(mm[DATA: DATA + 4096]) == pattern[4096:])
    # scattered buffers: 6 pieces of 512 bytes 1 KiB apart (one buffer and a copy per piece),
    # then read back in 2 pieces that lie next to each other (merged into one)
    blob = bytes((i * 13 + 5) & 0xFF for i in range(3072))
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 1, 0, 40)
    q.desc(0, HDR, 16, 1, 1)
    for k in range(6):
        mm[DATA + 1024 * k: DATA + 1024 * k + 512] = blob[512 * k: 512 * k + 512]
        q.desc(1 + k, DATA + 1024 * k, 512, 1, 2 + k)
    q.desc(7, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("OUT from 6 scattered pieces", u == (0, 1) and mm[DATA - 16] == 0, u)
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 0, 0, 40)
    q.desc(0, HDR, 16, 1, 1)
    q.desc(1, DATA + 0x8000, 1024, 1 | 2, 2)
    q.desc(2, DATA + 0x8400, 2048, 1 | 2, 3)
    q.desc(3, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("IN into 2 adjacent pieces returns the scattered write", u == (0, 3073) and bytes(mm[DATA + 0x8000: DATA + 0x8C00]) == blob, u)
    q.desc(0, HDR, 16, 1, 1)
    for k in range(6):
        q.desc(1 + k, DATA + 0xA000 + 1024 * k, 512, 1 | 2, 2 + k)
    q.desc(7, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    got = b"".join(bytes(mm[DATA + 0xA000 + 1024 * k: DATA + 0xA000 + 1024 * k + 512]) for k in range(6))
    check("IN into 6 scattered pieces", u == (0, 3073) and got == blob, u)
    # GET_VRING_BASE stops the ring and reports where it was
    base = c.call(GET_VRING_BASE, struct.pack("<II", 0, 0))
    check("GET_VRING_BASE reports the next available index", struct.unpack("<II", base) == (0, q.avail_idx), base.hex())
    # restart the queue from there and break its descriptor chain with a loop
    q2 = Queue.__new__(Queue)
    q2.c, q2.m = c, mm
    q2.kick, q2.callfd = os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)
    q2.avail_idx, q2.used_seen = q.avail_idx, q.used_seen
    c.send(SET_VRING_BASE, struct.pack("<II", 0, q.avail_idx))
    c.send(SET_VRING_CALL, struct.pack("<Q", 0), [q2.callfd])
    c.send(SET_VRING_KICK, struct.pack("<Q", 0), [q2.kick])
    check("queue restarted after GET_VRING_BASE", q2.request(0, 0, data_len=512) == (0, 513))
    q2.desc(0, HDR, 16, 1, 1)
    q2.desc(1, DATA, 512, 1, 0)   # 1 -> 0 -> 1 ...
    q2.submit(0)
    check("descriptor loop: no completion (queue stopped, not spinning)", q2.wait_used(timeout=1.0) is None)
    check("connection still answers after a broken ring", c.u64(GET_QUEUE_NUM) == 2)
    c.close()


def expect_closed(name, send):
    """Opens a connection, lets send() misbehave, expects the back-end to hang up."""
    c = Conn()
    try:
        send(c)
        check(name + ": connection closed", c.closed_by_peer())
    except (BrokenPipeError, ConnectionResetError, EOFError):
        check(name + ": connection closed", True)
    finally:
        c.close()


def hostile_checks():
    fd, mm = memory()

    def mem_then(c, table):
        c.send(SET_MEM_TABLE, table, [fd])

    expect_closed("unknown request 999", lambda c: c.send(999))
    expect_closed("GET_FEATURES with a 4-byte payload", lambda c: c.send(GET_FEATURES, b"\0" * 4))
    expect_closed("payload size 0xffffffff", lambda c: c.send(GET_FEATURES, b"", size=0xFFFFFFFF))
    expect_closed("protocol version 2", lambda c: c.send(GET_FEATURES, flags=2))
    expect_closed("SET_VRING_NUM of 3 (not a power of two)", lambda c: c.send(SET_VRING_NUM, struct.pack("<II", 0, 3)))
    expect_closed("SET_VRING_NUM of 65536", lambda c: c.send(SET_VRING_NUM, struct.pack("<II", 0, 65536)))
    expect_closed("queue index 7 of 2", lambda c: c.send(SET_VRING_NUM, struct.pack("<II", 7, 8)))
    expect_closed("SET_MEM_TABLE with 9 regions", lambda c: c.send(SET_MEM_TABLE, struct.pack("<II", 9, 0) + bytes(32 * 9)))
    expect_closed("SET_MEM_TABLE without its descriptor", lambda c: c.send(SET_MEM_TABLE, mem_table(fd)))
    expect_closed("SET_MEM_TABLE region past the end of the memfd", lambda c: mem_then(c, mem_table(fd, size=MEM * 2)))
    expect_closed("SET_MEM_TABLE region at a huge mmap offset", lambda c: mem_then(c, mem_table(fd, offset=1 << 62)))
    expect_closed("SET_MEM_TABLE region wrapping the address space", lambda c: mem_then(c, mem_table(fd, gpa=(1 << 64) - 4096)))
    expect_closed("SET_VRING_KICK without a descriptor", lambda c: c.send(SET_VRING_KICK, struct.pack("<Q", 0)))
    expect_closed("SET_VRING_KICK with polling (bit 8)", lambda c: c.send(SET_VRING_KICK, struct.pack("<Q", 0x100)))

    def ring_outside(c):
        c.send(SET_MEM_TABLE, mem_table(fd), [fd])
        c.send(SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
        c.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, 0x1000, 0x2000, 0x3000, 0))  # not front-end addresses
        k = os.eventfd(0)
        c.send(SET_VRING_KICK, struct.pack("<Q", 0), [k])
        os.close(k)
    expect_closed("rings outside the shared memory", ring_outside)

    def misaligned(c):
        c.send(SET_MEM_TABLE, mem_table(fd), [fd])
        c.send(SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
        c.send(SET_VRING_ADDR, struct.pack("<IIQQQQ", 0, 0, UVA + 8, UVA + USED, UVA + AVAIL, 0))
        k = os.eventfd(0)
        c.send(SET_VRING_KICK, struct.pack("<Q", 0), [k])
        os.close(k)
    expect_closed("misaligned descriptor table", misaligned)

    def kick_before_memory(c):
        k = os.eventfd(0)
        c.send(SET_VRING_KICK, struct.pack("<Q", 0), [k])
        os.close(k)
    expect_closed("SET_VRING_KICK before SET_MEM_TABLE", kick_before_memory)

    # the front-end shrinks the file behind guest memory after the rings are set up: touching
    # it faults; the queue stops, the connection and the daemon carry on
    c, feats, proto = setup()
    fd2, mm2 = memory()
    c.send(SET_MEM_TABLE, mem_table(fd2), [fd2])
    q = Queue(c, mm2, feats)
    check("request before the memory shrinks", q.request(0, 0, data_len=512) == (0, 513))
    os.ftruncate(fd2, 0)
    os.eventfd_write(q.kick, 1)
    time.sleep(0.5)
    check("connection answers after its guest memory shrank", c.u64(GET_QUEUE_NUM) == 2)
    c.close()
    os.close(fd2)

    # half a header, then gone: the back-end must simply carry on
    c = Conn()
    c.s.sendall(b"\x01\x00\x00")
    c.close()
    # a well-behaved front-end is served afterwards
    c = Conn()
    check("a new front-end is served after all that", c.u64(GET_QUEUE_NUM) == 2)
    c.close()


def write_checks(wce):
    c, feats, proto = setup()
    if wce is not None:
        c.send(SET_CONFIG, struct.pack("<III", 32, 1, 0) + bytes([wce]), flags=1 | NEED_REPLY)
        check("SET_CONFIG wce=%d acknowledged" % wce, struct.unpack("<Q", c.reply(SET_CONFIG))[0] == 0)
    cfg = c.call(GET_CONFIG, struct.pack("<III", 0, 60, 0) + bytes(60))
    print("config wce", cfg[12 + 32], flush=True)
    fd, mm = memory()
    c.send(SET_MEM_TABLE, mem_table(fd), [fd])
    os.close(fd)
    q = Queue(c, mm, feats)
    check("OUT 4 KiB at sector 0", q.request(1, 0, write_data=b"w" * 4096) == (0, 1))
    check("OUT 4 KiB at sector 16", q.request(1, 16, write_data=b"x" * 4096) == (0, 1))
    q.m[HDR: HDR + 16] = struct.pack("<IIQ", 1, 0, 40)
    q.desc(0, HDR, 16, 1, 1)
    for k in range(6):
        q.desc(1 + k, DATA + 1024 * k, 512, 1, 2 + k)
    q.desc(7, DATA - 16, 1, 2)
    q.submit(0)
    u = q.wait_used()
    check("OUT from 6 scattered pieces", u == (0, 1) and mm[DATA - 16] == 0, u)
    c.close()


if MODE == "data":
    data_checks()
elif MODE == "hostile":
    hostile_checks()
elif MODE == "writes":
    write_checks(int(sys.argv[4].split("=")[1]) if len(sys.argv) > 4 else None)
else:
    sys.exit("mode: data or hostile")
sys.exit(1 if failures else 0)
