package jsd.testing;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A byte-level NBD client for tests that must send what real clients never
 * send (bad magic, truncated headers, extended headers libnbd 1.14 lacks).
 * Speaks just enough of the protocol to reach any state on purpose.
 */
public final class RawNbd implements AutoCloseable {
    public static final long IHAVEOPT = 0x49484156454F5054L;
    public static final long REP_MAGIC = 0x3e889045565a9L;
    public static final int REQUEST_MAGIC = 0x25609513;
    public static final int EXTENDED_REQUEST_MAGIC = 0x21e41c71;
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    public static final int EXTENDED_REPLY_MAGIC = 0x6e8a278c;

    public final SocketChannel ch;

    private RawNbd(SocketChannel ch) { this.ch = ch; }

    /** Connects and reads the greeting; returns the handshake flags. */
    public static RawNbd connect(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        return new RawNbd(ch);
    }

    public int greeting() throws IOException {
        ByteBuffer b = read(18);
        if (b.getLong(0) != 0x4e42444d41474943L || b.getLong(8) != IHAVEOPT) throw new IOException("bad greeting");
        return b.getShort(16);
    }

    /** Greeting, then the client flags FIXED_NEWSTYLE|NO_ZEROES. */
    public RawNbd start() throws IOException {
        greeting();
        send(ByteBuffer.allocate(4).putInt(3).flip());
        return this;
    }

    public void send(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    public void send(byte[] b) throws IOException { send(ByteBuffer.wrap(b)); }

    public ByteBuffer read(int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) throw new EOFException("server closed after " + b.position() + " of " + n + " bytes");
        }
        return b.flip();
    }

    /** True when the server closed the connection (reads EOF) within the timeout. */
    public boolean closedByServer(Duration timeout) throws IOException {
        ch.configureBlocking(false);
        long deadline = System.nanoTime() + timeout.toNanos();
        ByteBuffer b = ByteBuffer.allocate(65536);
        try {
            while (System.nanoTime() < deadline) {
                b.clear();
                int n;
                try {
                    n = ch.read(b);
                } catch (IOException reset) {
                    return true;
                }
                if (n < 0) return true;
                if (n == 0) Thread.sleep(10);
            }
            return false;
        } catch (InterruptedException e) {
            throw new IOException(e);
        } finally {
            ch.configureBlocking(true);
        }
    }

    public void option(int opt, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        b.putLong(IHAVEOPT).putInt(opt).putInt(data.length).put(data).flip();
        send(b);
    }

    /** One option reply. */
    public record OptReply(int opt, int type, byte[] data) {
        public String text() { return new String(data, StandardCharsets.UTF_8); }
    }

    public OptReply optReply() throws IOException {
        ByteBuffer h = read(20);
        if (h.getLong(0) != REP_MAGIC) throw new IOException("bad option reply magic");
        int len = h.getInt(16);
        return new OptReply(h.getInt(8), h.getInt(12), read(len).array());
    }

    /** Replies up to and including the final one (ACK or an error). */
    public java.util.List<OptReply> optReplies() throws IOException {
        java.util.List<OptReply> out = new java.util.ArrayList<>();
        while (true) {
            OptReply r = optReply();
            out.add(r);
            if (r.type() == 1 || r.type() < 0) return out;
        }
    }

    public static byte[] nameWithInfos(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) b.putShort((short) i);
        return b.array();
    }

    /** Meta context option payload: export name and queries. */
    public static byte[] metaQuery(String name, String... queries) {
        int len = 4 + name.length() + 4;
        for (String q : queries) len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        ByteBuffer b = ByteBuffer.allocate(len);
        b.putInt(name.length()).put(name.getBytes(StandardCharsets.UTF_8)).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** NBD_OPT_GO for name; returns the export size and transmission flags. */
    public long[] go(String name) throws IOException {
        option(7, nameWithInfos(name));
        long size = -1, flags = -1;
        for (OptReply r : optReplies()) {
            if (r.type() < 0) throw new IOException("GO refused: " + r.text());
            ByteBuffer d = ByteBuffer.wrap(r.data());
            if (r.type() == 3 && d.getShort(0) == 0) {
                size = d.getLong(2);
                flags = d.getShort(10) & 0xffff;
            }
        }
        return new long[] {size, flags};
    }

    public void request(int flags, int type, long cookie, long offset, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(28);
        b.putInt(REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset)
                .putInt(length).flip();
        send(b);
    }

    public void extendedRequest(int flags, int type, long cookie, long offset, long length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(32);
        b.putInt(EXTENDED_REQUEST_MAGIC).putShort((short) flags).putShort((short) type).putLong(cookie)
                .putLong(offset).putLong(length).flip();
        send(b);
    }

    /** A simple reply header: {error, cookie}. */
    public long[] simpleReply() throws IOException {
        ByteBuffer h = read(16);
        if (h.getInt(0) != SIMPLE_REPLY_MAGIC) throw new IOException("not a simple reply: " + Integer.toHexString(h.getInt(0)));
        return new long[] {h.getInt(4), h.getLong(8)};
    }

    /** A structured or extended reply chunk with its payload. */
    public record Chunk(int flags, int type, long cookie, long offset, byte[] payload) {
        public boolean done() { return (flags & 1) != 0; }

        public int error() { return ByteBuffer.wrap(payload).getInt(0); }
    }

    public Chunk chunk() throws IOException {
        ByteBuffer m = read(4);
        int magic = m.getInt(0);
        if (magic == STRUCTURED_REPLY_MAGIC) {
            ByteBuffer h = read(16);
            int len = h.getInt(12);
            return new Chunk(h.getShort(0), h.getShort(2) & 0xffff, h.getLong(4), -1, read(len).array());
        }
        if (magic == EXTENDED_REPLY_MAGIC) {
            ByteBuffer h = read(28);
            long len = h.getLong(20);
            return new Chunk(h.getShort(0), h.getShort(2) & 0xffff, h.getLong(4), h.getLong(12), read((int) len).array());
        }
        throw new IOException("not a chunk: " + Integer.toHexString(magic));
    }

    @Override
    public void close() throws IOException { ch.close(); }
}
