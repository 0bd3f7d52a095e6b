package jsd.export.nbd;

import jsd.testing.JsdProcess;
import jsd.testing.RawNbd;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile clients: garbage, truncated and oversized input, wrong magic,
 * requests after DISC, 5000-byte names, clients vanishing mid-payload and
 * a thousand connect/close cycles. Each is answered per the spec or closed;
 * a well-behaved client keeps working throughout; afterwards the daemon has
 * as many threads and descriptors as before, and its debug log (JSD_NBD_DEBUG)
 * shows every pooled buffer returned.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NbdHostileTest {
    static final long SIZE = 64L << 20;
    static JsdProcess jsd;
    static Path work;
    static Path sock;
    static RawNbd good;
    static long cookie;

    @BeforeAll
    static void start() throws Exception {
        work = Files.createTempDirectory("jsd-nbd-hostile-");
        NbdClientsTest.makeImage(work.resolve("a.img"));
        sock = work.resolve("a.sock");
        jsd = JsdProcess.startWithEnv(Map.of("JSD_NBD_DEBUG", "1"), NbdClientsTest.serverArgs(work.resolve("a.img"), sock));
        jsd.awaitSocket(sock);
        good = RawNbd.connect(sock).start();
        good.go("disk");
    }

    @AfterAll
    static void stop() throws Exception {
        jsd.close();
        Files.deleteIfExists(sock);
        Files.deleteIfExists(work.resolve("a.img"));
        Files.deleteIfExists(work);
    }

    /** The well-behaved client still gets right answers. */
    static void goodClientWorks() throws IOException {
        long c = ++cookie;
        good.request(0, 0, c, 0, 11);
        long[] r = good.simpleReply();
        assertEquals(0, r[0]);
        assertEquals(c, r[1]);
        assertEquals("hello world", new String(good.read(11).array()));
    }

    static RawNbd attached() throws IOException {
        RawNbd c = RawNbd.connect(sock).start();
        c.go("disk");
        return c;
    }

    static int threads() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/" + jsd.pid() + "/status"))) {
            if (l.startsWith("Threads:")) return Integer.parseInt(l.substring(8).trim());
        }
        throw new IOException("no Threads line");
    }

    static int fds() throws IOException {
        try (var s = Files.list(Path.of("/proc/" + jsd.pid() + "/fd"))) {
            return (int) s.count();
        }
    }

    /** Waits until the daemon's descriptor count drops to at most max (closing is asynchronous). */
    static int settledFds(int max) throws Exception {
        int n = fds();
        for (int i = 0; i < 200 && n > max; i++) {
            Thread.sleep(25);
            n = fds();
        }
        return n;
    }

    @Test
    @Order(1)
    void garbageInsteadOfClientFlags() throws Exception {
        try (RawNbd c = RawNbd.connect(sock)) {
            c.greeting();
            byte[] junk = new byte[4096];
            new Random(1).nextBytes(junk);
            junk[0] = (byte) 0xff; // unknown client flags
            c.send(junk);
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
        goodClientWorks();
    }

    @Test
    @Order(2)
    void wrongOptionMagicAndTruncatedOption() throws Exception {
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.send(ByteBuffer.allocate(16).putLong(0x1234).putInt(7).putInt(0).flip());
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.send(ByteBuffer.allocate(10).putLong(RawNbd.IHAVEOPT).putShort((short) 0).flip()); // then vanish
        }
        try (RawNbd c = RawNbd.connect(sock).start()) {
            c.option(7, new byte[0]); // GO without even a name length
            assertEquals(0x80000003, c.optReply().type());
            c.option(1, new byte[5000]); // EXPORT_NAME of 5000 bytes: no way to answer, so closed
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
        try (RawNbd c = RawNbd.connect(sock).start()) {
            // an option claiming 3 GiB of data: refused unread (the client gives up)
            c.send(ByteBuffer.allocate(16).putLong(RawNbd.IHAVEOPT).putInt(6).putInt(0xC0000000).flip());
        }
        goodClientWorks();
    }

    @Test
    @Order(3)
    void badRequests() throws Exception {
        try (RawNbd c = attached()) {
            c.request(0, 0, 1, 0, 64 << 20); // READ larger than the maximum block size
            assertEquals(22, c.simpleReply()[0]);
            c.request(0, 0, 2, SIZE - 1, 2); // past the end
            assertEquals(22, c.simpleReply()[0]);
            c.request(0, 0, 3, -1, 1); // offset wraps around
            assertEquals(22, c.simpleReply()[0]);
            c.request(0, 42, 4, 0, 0); // unknown command
            assertEquals(22, c.simpleReply()[0]);
            c.request(0xff00, 0, 5, 0, 1); // unknown flags
            assertEquals(22, c.simpleReply()[0]);
            c.request(0, 7, 6, 0, 4096); // BLOCK_STATUS without a context
            assertEquals(22, c.simpleReply()[0]);
            c.request(0, 1, 7, 0, 33 << 20); // WRITE larger than allowed: refused, connection ends
            assertEquals(22, c.simpleReply()[0]);
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
        try (RawNbd c = attached()) {
            c.send(ByteBuffer.allocate(28).putInt(0, 0x12345678)); // wrong request magic
            assertTrue(c.closedByServer(Duration.ofSeconds(5)));
        }
        try (RawNbd c = attached()) {
            c.send(new byte[13]); // half a header, then gone
        }
        goodClientWorks();
    }

    @Test
    @Order(4)
    void requestsAfterDiscAreIgnored() throws Exception {
        try (RawNbd c = attached()) {
            // DISC and two requests after it in one write: the server may close as soon
            // as it reads DISC, so separate writes could fail with a broken pipe
            ByteBuffer b = ByteBuffer.allocate(3 * 28);
            int[] types = {2, 0, 3}; // DISC, READ, FLUSH
            for (int i = 0; i < 3; i++) {
                b.putInt(RawNbd.REQUEST_MAGIC).putShort((short) 0).putShort((short) types[i]).putLong(i + 1)
                        .putLong(0).putInt(types[i] == 0 ? 512 : 0);
            }
            c.send(b.flip());
            assertTrue(c.closedByServer(Duration.ofSeconds(5)), "no replies after DISC, just the close");
        }
        goodClientWorks();
    }

    @Test
    @Order(5)
    void clientVanishesMidPayload() throws Exception {
        for (int len : new int[] {4096, 1 << 20, 16 << 20}) {
            try (RawNbd c = attached()) {
                c.request(0, 1, 1, 0, len);
                c.send(new byte[len / 3]);
            }
        }
        // and mid-reply: ask for lots of data and leave without reading it
        try (RawNbd c = attached()) {
            for (int i = 0; i < 64; i++) c.request(0, 0, i, 0, 1 << 20);
        }
        goodClientWorks();
    }

    @Test
    @Order(6)
    void connectCloseCyclesLeakNothing() throws Exception {
        for (int i = 0; i < 50; i++) RawNbd.connect(sock).close(); // warm up thread pools
        Thread.sleep(300);
        int threadsBefore = threads();
        int fdsBefore = settledFds(Integer.MAX_VALUE);
        for (int i = 0; i < 1000; i++) {
            try (RawNbd c = RawNbd.connect(sock)) {
                if (i % 3 == 1) c.greeting();
                if (i % 3 == 2) {
                    c.start();
                    c.go("disk");
                }
            }
        }
        goodClientWorks();
        assertEquals(fdsBefore, settledFds(fdsBefore), "descriptors leaked");
        int t = threads();
        for (int i = 0; i < 100 && t > threadsBefore; i++) {
            Thread.sleep(50);
            t = threads();
        }
        assertTrue(t <= threadsBefore, "threads: " + threadsBefore + " before, " + t + " after");
    }

    @Test
    @Order(7)
    void everyBufferReturned() throws Exception {
        good.request(0, 2, ++cookie, 0, 0);
        assertTrue(good.closedByServer(Duration.ofSeconds(5)));
        good.close();
        Pattern p = Pattern.compile("clients=(\\d+) buffers=(\\d+)");
        String last = null;
        for (int i = 0; i < 100; i++) {
            Matcher m = p.matcher(jsd.output());
            last = null;
            while (m.find()) last = m.group(1) + "/" + m.group(2);
            if ("0/0".equals(last)) break;
            Thread.sleep(50);
        }
        assertEquals("0/0", last, "clients/buffers outstanding after the last client left");
        assertTrue(jsd.process().isAlive());
    }
}
