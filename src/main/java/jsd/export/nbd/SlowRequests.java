package jsd.export.nbd;

import jsd.block.BlockNode;
import jsd.sys.Errno;
import jsd.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;

import static jsd.export.nbd.NbdConstants.*;

/**
 * Requests that may wait (for the disk, fsync, fallocate), run each on
 * its own virtual thread; each sends its own reply when done.
 */
final class SlowRequests {
    private static final int CACHE_CHUNK = 1 << 20;

    private final BlockNode node;
    private final ReplyWriter out;
    private final boolean writethrough;

    SlowRequests(BlockNode node, ReplyWriter out, boolean writethrough) {
        this.node = node;
        this.out = out;
        this.writethrough = writethrough;
    }

    void execute(Request r) {
        ByteBuffer header = BufferPool.SHARED.take(8192);
        ByteBuffer data = null;
        try {
            boolean fua = (r.flags() & NBD_CMD_FLAG_FUA) != 0 || writethrough;
            try {
                switch (r.type()) {
                    case NBD_CMD_READ -> {
                        int len = (int) r.length();
                        data = BufferPool.SHARED.take(len);
                        node.read(r.offset(), data);
                        data.flip();
                        out.putReadHeader(header, r.cookie(), r.offset(), len);
                    }
                    case NBD_CMD_WRITE -> {
                        node.write(r.offset(), r.payload(), fua ? BlockNode.FUA : 0);
                        out.putOk(header, r.cookie(), r.offset());
                    }
                    case NBD_CMD_FLUSH -> {
                        node.flush();
                        out.putOk(header, r.cookie(), r.offset());
                    }
                    case NBD_CMD_TRIM -> {
                        node.discard(r.offset(), r.length());
                        if (fua) node.flush();
                        out.putOk(header, r.cookie(), r.offset());
                    }
                    case NBD_CMD_WRITE_ZEROES -> {
                        int f = (fua ? BlockNode.FUA : 0)
                                | ((r.flags() & NBD_CMD_FLAG_NO_HOLE) == 0 ? BlockNode.MAY_UNMAP : 0)
                                | ((r.flags() & NBD_CMD_FLAG_FAST_ZERO) != 0 ? BlockNode.NO_FALLBACK : 0);
                        node.writeZeroes(r.offset(), r.length(), f);
                        out.putOk(header, r.cookie(), r.offset());
                    }
                    case NBD_CMD_CACHE -> {
                        cache(r.offset(), r.length());
                        out.putOk(header, r.cookie(), r.offset());
                    }
                    default -> throw new IllegalStateException("not a slow request: " + r.type());
                }
            } catch (IOException e) {
                BufferPool.SHARED.give(data);
                data = null;
                header.clear();
                long errorOffset = r.type() == NBD_CMD_READ && out.structured() ? r.offset() : -1;
                out.putError(header, r.cookie(), r.offset(), errnoOf(e), messageOf(e), errorOffset);
            }
            header.flip();
            out.send(header, data);
        } catch (IOException e) {
            // the connection broke; the reader notices and cleans up
        } finally {
            BufferPool.SHARED.give(header);
            BufferPool.SHARED.give(data);
        }
    }

    /** NBD_CMD_CACHE: reads the range so that later reads find it in memory. */
    private void cache(long offset, long length) throws IOException {
        ByteBuffer b = BufferPool.SHARED.take(CACHE_CHUNK);
        try {
            long pos = offset;
            long end = offset + length;
            while (pos < end) {
                b.clear().limit((int) Math.min(CACHE_CHUNK, end - pos));
                node.read(pos, b);
                pos += b.limit();
            }
        } finally {
            BufferPool.SHARED.give(b);
        }
    }

    static int errnoOf(IOException e) {
        if (e instanceof SysException s) {
            int n = nbdErrno(s.errno());
            return n == 0 ? NBD_EIO : n;
        }
        return NBD_EIO;
    }

    static String messageOf(IOException e) {
        if (e instanceof SysException s) return e.getMessage() == null ? Errno.describe(s.errno()) : e.getMessage();
        return e.getMessage() == null ? "Input/output error" : e.getMessage();
    }
}
