package jsd.export.nbd;

import jsd.testing.JsdProcess;
import jsd.testing.RawNbd;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The wire protocol: every command and flag through libnbd (a Python
 * script run by /usr/bin/python3), extended headers and the option
 * phase's error replies byte by byte.
 */
class NbdProtocolTest {
    static final long SIZE = 64L << 20;
    static JsdProcess jsd;
    static Path work;
    static Path sock;

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-nbd-proto-");
        NbdClientsTest.makeImage(work.resolve("a.img"));
        sock = work.resolve("a.sock");
        jsd = JsdProcess.start(NbdClientsTest.serverArgs(work.resolve("a.img"), sock));
        jsd.awaitSocket(sock);
    }

    @AfterAll
    static void stop() throws Exception {
        jsd.close();
        Files.deleteIfExists(sock);
        Files.deleteIfExists(work.resolve("a.img"));
        Files.deleteIfExists(work);
    }

    @Test
    void libnbdEveryCommandAndFlag() throws Exception {
        Path script = Path.of(System.getProperty("jsd.home", ".")).resolve("src/test/resources/nbd/libnbd_protocol.py");
        Tools.Output out = Tools.run(work, 300, List.of("/usr/bin/python3", script.toString(),
                "nbd+unix:///disk?socket=" + sock, String.valueOf(SIZE))).expectOk();
        assertTrue(out.stdout().startsWith("ok "), out.toString());
    }

    @Test
    void extendedHeaders() throws Exception {
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.option(11, new byte[0]); // NBD_OPT_EXTENDED_HEADERS
            assertEquals(1, c.optReply().type());
            c.option(10, RawNbd.metaQuery("disk", "base:allocation", "qemu:allocation-depth"));
            List<RawNbd.OptReply> ctx = c.optReplies();
            assertEquals(3, ctx.size(), ctx.toString());
            long[] go = c.go("disk");
            assertEquals(SIZE, go[0]);
            // WRITE (payload length in the 64-bit header field), then READ it back
            byte[] data = new byte[5000];
            Arrays.fill(data, (byte) 0x77);
            c.extendedRequest(0, 1, 11, 123457, data.length);
            c.send(data);
            RawNbd.Chunk w = c.chunk();
            assertEquals(11, w.cookie());
            assertEquals(0, w.type()); // NBD_REPLY_TYPE_NONE
            assertTrue(w.done());
            c.extendedRequest(0, 0, 12, 123457, data.length);
            RawNbd.Chunk r = c.chunk();
            assertEquals(1, r.type()); // OFFSET_DATA
            assertEquals(123457, ByteBuffer.wrap(r.payload()).getLong(0));
            assertArrayEquals(data, Arrays.copyOfRange(r.payload(), 8, r.payload().length));
            // BLOCK_STATUS: one BLOCK_STATUS_EXT chunk per context
            c.extendedRequest(0, 7, 13, 0, SIZE);
            RawNbd.Chunk s1 = c.chunk();
            RawNbd.Chunk s2 = c.chunk();
            assertEquals(6, s1.type());
            assertEquals(6, s2.type());
            assertTrue(!s1.done() && s2.done());
            ByteBuffer p = ByteBuffer.wrap(s1.payload());
            int n = p.getInt(4);
            long total = 0;
            for (int i = 0; i < n; i++) total += p.getLong(8 + 16 * i);
            assertEquals(SIZE, total);
            // a length beyond 32 bits is refused, the connection goes on
            c.extendedRequest(0, 0, 14, 0, 1L << 33);
            RawNbd.Chunk e = c.chunk();
            assertEquals(0x8001, e.type());
            assertEquals(22, e.error());
            c.extendedRequest(0, 3, 15, 0, 0); // FLUSH
            assertEquals(15, c.chunk().cookie());
            c.extendedRequest(0, 2, 16, 0, 0); // DISC
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
    }

    @Test
    void optionErrors() throws Exception {
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.option(99, new byte[0]);
            assertEquals(0x80000001, c.optReply().type()); // ERR_UNSUP
            c.option(5, new byte[0]); // STARTTLS without TLS configured
            assertEquals(0x80000002, c.optReply().type()); // ERR_POLICY
            c.option(3, new byte[] {1}); // LIST with data
            assertEquals(0x80000003, c.optReply().type()); // ERR_INVALID
            c.option(9, RawNbd.metaQuery("disk", "base:")); // before structured replies
            assertEquals(0x80000003, c.optReply().type());
            c.option(8, new byte[] {0}); // STRUCTURED_REPLY with data
            assertEquals(0x80000003, c.optReply().type());
            c.option(8, new byte[0]);
            assertEquals(1, c.optReply().type());
            c.option(9, RawNbd.metaQuery("disk", "base:"));
            List<RawNbd.OptReply> l = c.optReplies();
            assertEquals(2, l.size());
            assertEquals("base:allocation", new String(l.get(0).data(), 4, l.get(0).data().length - 4));
            c.option(9, RawNbd.metaQuery("disk", "qemu:"));
            l = c.optReplies();
            assertEquals("qemu:allocation-depth", new String(l.get(0).data(), 4, l.get(0).data().length - 4));
            c.option(9, RawNbd.metaQuery("nosuch", "base:"));
            assertEquals(0x80000006, c.optReply().type()); // ERR_UNKNOWN
            c.option(7, RawNbd.nameWithInfos("nosuch"));
            assertEquals(0x80000006, c.optReply().type());
            byte[] bad = RawNbd.nameWithInfos("disk", 3);
            c.option(6, Arrays.copyOf(bad, bad.length - 1)); // INFO, truncated request list
            assertEquals(0x80000003, c.optReply().type());
            c.option(6, RawNbd.nameWithInfos("n".repeat(5000))); // name longer than 4096
            assertEquals(0x80000003, c.optReply().type());
            c.option(2, new byte[0]); // ABORT
            assertEquals(1, c.optReply().type());
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
    }

    @Test
    void oldStyleExportName() throws Exception {
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.option(1, "disk".getBytes());
            ByteBuffer b = c.read(10); // NO_ZEROES negotiated: no 124 bytes of padding
            assertEquals(SIZE, b.getLong(0));
            c.request(0, 0, 5, 0, 11);
            assertEquals(5, c.simpleReply()[1]);
            assertEquals("hello world", new String(c.read(11).array()));
        }
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.option(1, "nosuch".getBytes());
            assertTrue(c.closedByServer(Duration.ofSeconds(5)), "an unknown EXPORT_NAME ends the connection");
        }
    }
}
