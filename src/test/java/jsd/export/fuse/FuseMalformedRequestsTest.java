package jsd.export.fuse;

import jsd.block.FileNode;
import jsd.sys.DeviceFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The session's request decoding against bytes the kernel would never
 * send: truncated headers and bodies, lengths that disagree, sizes and
 * offsets out of range, unknown opcodes and inodes, then seeded random
 * messages. Each gets one well-formed error reply (or, without a usable
 * header, none), and the session keeps serving. The session runs over a
 * scripted channel in place of /dev/fuse, on a real file node.
 */
class FuseMalformedRequestsTest {
    static final int ENOENT = 2, EINVAL = 22, ENOSYS = 38, EACCES = 13;

    Path dir;
    FileNode node;
    ScriptedChannel channel;
    FuseSession session;
    long nextUnique = 100;

    /** Messages handed in by the test, replies collected for it. */
    static final class ScriptedChannel implements FuseChannel {
        final LinkedBlockingQueue<byte[]> in = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<ByteBuffer> out = new LinkedBlockingQueue<>();
        volatile boolean woken;
        volatile boolean closed;
        private byte[] pending;

        @Override public boolean awaitReadable() {
            try {
                while (!woken) {
                    byte[] m = in.poll(20, TimeUnit.MILLISECONDS);
                    if (m != null) {
                        pending = m;
                        return true;
                    }
                }
                return false;
            } catch (InterruptedException e) {
                return false;
            }
        }

        @Override public int read(ByteBuffer dst) {
            byte[] m = pending;
            pending = null;
            if (m == null) return DeviceFile.AGAIN;
            if (m.length > dst.remaining()) throw new AssertionError("message larger than the session's buffer");
            dst.put(m);
            return m.length;
        }

        @Override public void write(ByteBuffer src) {
            ByteBuffer copy = ByteBuffer.allocate(src.remaining()).order(ByteOrder.nativeOrder());
            copy.put(src).flip();
            out.add(copy);
        }

        @Override public void wake() { woken = true; }

        @Override public void close() { closed = true; }
    }

    @BeforeEach
    void start() throws Exception {
        dir = Files.createTempDirectory("jsd-fuse-malformed-");
        Path img = dir.resolve("x.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        node = new FileNode(img.toString(), false, false, false);
        FileAttributes attrs = new FileAttributes(node, true);
        channel = new ScriptedChannel();
        session = new FuseSession("test", channel, new FileOperations(node, attrs, true, false, false, true));
        session.start();
        ByteBuffer init = body(64).putInt(7).putInt(38).putInt(128 << 10).putInt(0x3fffffff);
        ByteBuffer reply = call(FuseConstants.FUSE_INIT, 0, init);
        assertEquals(0, reply.getInt(4));
        assertEquals(16 + 64, reply.getInt(0));
        assertEquals(7, reply.getInt(16));
    }

    @AfterEach
    void stop() throws Exception {
        session.stop();
        assertTrue(session.awaitClosed(5000), "session did not end");
        assertTrue(channel.closed);
        node.close();
        Files.walk(dir).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }

    static ByteBuffer body(int size) { return ByteBuffer.allocate(size).order(ByteOrder.nativeOrder()); }

    byte[] message(int opcode, long nodeId, ByteBuffer body, long unique) {
        byte[] b = body.array();
        ByteBuffer m = ByteBuffer.allocate(40 + b.length).order(ByteOrder.nativeOrder());
        m.putInt(40 + b.length).putInt(opcode).putLong(unique).putLong(nodeId).putInt(0).putInt(0).putInt(1).putInt(0);
        m.put(b);
        return m.array();
    }

    /** Sends a request and returns its reply, checking that the reply is well formed and meant for it. */
    ByteBuffer call(int opcode, long nodeId, ByteBuffer body) throws Exception {
        long unique = nextUnique++;
        channel.in.add(message(opcode, nodeId, body, unique));
        ByteBuffer r = channel.out.poll(10, TimeUnit.SECONDS);
        assertNotNull(r, "no reply to opcode " + opcode);
        assertEquals(r.remaining(), r.getInt(0), "reply length field");
        assertEquals(unique, r.getLong(8), "reply unique");
        assertTrue(r.getInt(4) <= 0, "error field " + r.getInt(4));
        return r;
    }

    int error(int opcode, long nodeId, ByteBuffer body) throws Exception {
        ByteBuffer r = call(opcode, nodeId, body);
        return -r.getInt(4);
    }

    void assertServing() throws Exception {
        ByteBuffer r = call(FuseConstants.FUSE_GETATTR, 1, body(16));
        assertEquals(0, r.getInt(4));
        assertEquals(1L << 20, r.getLong(16 + 16 + 8)); // attr.size
    }

    @Test
    void messagesWithoutAUsableHeaderAreDropped() throws Exception {
        channel.in.add(new byte[0]);
        channel.in.add(new byte[39]);
        byte[] lying = message(FuseConstants.FUSE_GETATTR, 1, body(16), 5);
        ByteBuffer.wrap(lying).order(ByteOrder.nativeOrder()).putInt(0, lying.length + 100);
        channel.in.add(lying);
        assertServing();
        assertNull(channel.out.poll(100, TimeUnit.MILLISECONDS), "a reply to a message without a header");
    }

    @Test
    void shortBodiesAndBadFieldsGetErrors() throws Exception {
        assertEquals(EINVAL, error(FuseConstants.FUSE_READ, 1, body(8)));
        assertEquals(EINVAL, error(FuseConstants.FUSE_WRITE, 1, body(39)));
        assertEquals(EINVAL, error(FuseConstants.FUSE_SETATTR, 1, body(87)));
        assertEquals(EINVAL, error(FuseConstants.FUSE_FALLOCATE, 1, body(31)));
        assertEquals(EINVAL, error(FuseConstants.FUSE_LSEEK, 1, body(23)));
        assertEquals(EINVAL, error(FuseConstants.FUSE_INIT, 0, body(4)));
        // a write whose size field promises more (or less) payload than came
        ByteBuffer w = body(40 + 100).putLong(0).putLong(0).putInt(101);
        assertEquals(EINVAL, error(FuseConstants.FUSE_WRITE, 1, w));
        ByteBuffer w2 = body(40 + 100).putLong(0).putLong(0).putInt(99);
        assertEquals(EINVAL, error(FuseConstants.FUSE_WRITE, 1, w2));
        // offsets beyond 2^63 and reads larger than any buffer
        ByteBuffer neg = body(40 + 8).putLong(0).putLong(-4096).putInt(8);
        assertEquals(EINVAL, error(FuseConstants.FUSE_WRITE, 1, neg));
        ByteBuffer huge = body(40).putLong(0).putLong(0).putInt(-1);
        assertEquals(EINVAL, error(FuseConstants.FUSE_READ, 1, huge));
        ByteBuffer negRead = body(40).putLong(0).putLong(Long.MIN_VALUE).putInt(10);
        assertEquals(EINVAL, error(FuseConstants.FUSE_READ, 1, negRead));
        ByteBuffer fa = body(32).putLong(0).putLong(Long.MAX_VALUE - 10).putLong(100).putInt(0);
        assertEquals(EINVAL, error(FuseConstants.FUSE_FALLOCATE, 1, fa));
        ByteBuffer seek = body(24).putLong(0).putLong(0).putInt(7);
        assertEquals(EINVAL, error(FuseConstants.FUSE_LSEEK, 1, seek));
        // unknown opcodes and inodes
        assertEquals(ENOSYS, error(9999, 1, body(0)));
        assertEquals(ENOSYS, error(FuseConstants.FUSE_INIT + 100, 1, body(0)));
        assertEquals(ENOENT, error(FuseConstants.FUSE_GETATTR, 2, body(16)));
        assertEquals(ENOENT, error(FuseConstants.FUSE_LOOKUP, 1, body(8)));
        // a read at or past the end is empty, a write there is short
        ByteBuffer atEnd = body(40).putLong(0).putLong(1 << 20).putInt(4096);
        assertEquals(16, call(FuseConstants.FUSE_READ, 1, atEnd).remaining());
        ByteBuffer past = body(40 + 16).putLong(0).putLong((1 << 20) - 8).putInt(16);
        ByteBuffer wr = call(FuseConstants.FUSE_WRITE, 1, past);
        assertEquals(8, wr.getInt(16));
        assertServing();
    }

    @Test
    void randomMessagesEachGetOneReplyAndTheSessionSurvives() throws Exception {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        try {
            for (int i = 0; i < 3000; i++) {
                int opcode = rnd.nextInt(8) == 0 ? rnd.nextInt() : rnd.nextInt(60);
                if (opcode == FuseConstants.FUSE_FORGET || opcode == FuseConstants.FUSE_BATCH_FORGET
                        || opcode == FuseConstants.FUSE_INTERRUPT || opcode == FuseConstants.FUSE_INIT) {
                    continue; // no reply expected (INIT would renegotiate)
                }
                ByteBuffer b = body(rnd.nextInt(4) == 0 ? rnd.nextInt(200) : rnd.nextInt(100) + 20);
                rnd.nextBytes(b.array());
                // keep offsets and lengths within a few MiB: the node is a real file
                for (int off : new int[] {8, 16}) {
                    if (b.capacity() >= off + 8 && rnd.nextBoolean()) b.putLong(off, rnd.nextLong(8L << 20));
                }
                if (opcode == FuseConstants.FUSE_WRITE && b.capacity() >= 40 && rnd.nextBoolean()) {
                    b.putInt(16, b.capacity() - 40); // a consistent write now and then
                }
                if (opcode == FuseConstants.FUSE_SETATTR && b.capacity() >= 88 && rnd.nextBoolean()) {
                    b.putInt(0, 1 << 3).putLong(16, rnd.nextLong(4L << 20)); // a resize
                }
                long nodeId = rnd.nextInt(10) == 0 ? rnd.nextLong() : 1;
                call(opcode, nodeId, b);
            }
            // resizes and growing fallocates changed the size: put it back, then look
            ByteBuffer resize = body(88).putInt(0, 1 << 3).putLong(16, 1 << 20);
            assertEquals(0, error(FuseConstants.FUSE_SETATTR, 1, resize));
            assertServing();
        } catch (AssertionError | Exception e) {
            throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
        }
    }
}
