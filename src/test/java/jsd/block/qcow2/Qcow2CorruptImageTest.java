package jsd.block.qcow2;

import jsd.block.BlockNode;
import jsd.block.BlockStatus;
import jsd.qapi.QapiError;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * An image file is input from whoever made it: a qcow2 image with damaged
 * metadata must give a clean error (QapiError at open, IOException on I/O),
 * never an unchecked exception, an endless loop or a huge allocation.
 * Seeded rounds corrupt a few bytes of an image made by qemu-img (header,
 * extensions, bitmap directory, L1/L2 and refcount tables all live in its
 * first clusters), then open it, read it all with block status, and in some
 * rounds write and close it read-write.
 */
class Qcow2CorruptImageTest {
    static final int ROUNDS = Integer.getInteger("jsd.test.rounds", 1500);
    static Qcow2Fixture fx;
    static byte[] pristine;

    @BeforeAll
    static void makeImage() throws Exception {
        fx = new Qcow2Fixture();
        // 4 KiB clusters pack the metadata into the first few dozen KiB; a compressed
        // cluster, a zero cluster, a backing file and a persistent bitmap add their own
        // metadata shapes
        fx.qemuImg("create", "-f", "raw", "base.raw", "4M").expectOk();
        fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", "-b", fx.path("base.raw").toString(),
                "-F", "raw", "img.qcow2", "4M").expectOk();
        fx.qemuImgIo("img.qcow2", "write -P 0x11 0 64k", "write -z 64k 8k", "write -P 0x22 1M 12k",
                "write -c -P 0x33 2M 4k", "write -P 0x44 4092k 4k").expectOk();
        fx.qemuImg("bitmap", "--add", "img.qcow2", "b0").expectOk();
        fx.qemuImgIo("img.qcow2", "write -P 0x55 3M 4k").expectOk();
        pristine = Files.readAllBytes(fx.path("img.qcow2"));
    }

    @AfterAll
    static void cleanup() throws Exception { fx.close(); }

    @Test
    void damagedMetadataGivesCleanErrors() {
        long seed = Long.getLong("jsd.test.seed", System.nanoTime());
        Random r = new Random(seed);
        int metadataEnd = Math.min(pristine.length, 48 * 1024);
        for (int round = 0; round < ROUNDS; round++) {
            byte[] img = pristine.clone();
            int flips = 1 + r.nextInt(4);
            StringBuilder what = new StringBuilder();
            for (int i = 0; i < flips; i++) {
                // mostly the header and its extensions, else anywhere in the metadata clusters
                int at = r.nextInt(3) == 0 ? r.nextInt(metadataEnd) : r.nextInt(1024);
                byte v = switch (r.nextInt(4)) {
                    case 0 -> (byte) 0xff;
                    case 1 -> 0;
                    case 2 -> (byte) (img[at] ^ (1 << r.nextInt(8)));
                    default -> (byte) r.nextInt();
                };
                what.append(String.format(" [%d]=0x%02x", at, v & 0xff));
                img[at] = v;
            }
            boolean writable = r.nextInt(4) == 0;
            String context = "seed " + seed + " round " + round + (writable ? " (read-write)" : "") + ":" + what;
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> exercise(img, writable, context), context);
        }
    }

    private static void exercise(byte[] img, boolean writable, String context) throws Exception {
        Path file = fx.path("fuzz.qcow2");
        Files.write(file, img);
        BlockNode n;
        try {
            n = fx.openQcow2("fz", "fuzz.qcow2", writable ? "" : "'read-only':true");
        } catch (QapiError | IOException e) {
            return; // refused at open: fine, as long as it is a clean error
        } catch (RuntimeException | OutOfMemoryError e) {
            throw new AssertionError(context + ": open threw " + e, e);
        }
        try {
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            for (long off = 0; off < n.size(); off += buf.capacity()) {
                buf.clear().limit((int) Math.min(buf.capacity(), n.size() - off));
                try {
                    n.read(off, buf);
                } catch (IOException e) {
                    // a damaged table or cluster: a clean I/O error
                }
            }
            for (long off = 0; off < n.size(); ) {
                BlockStatus s;
                try {
                    s = n.blockStatus(off, n.size() - off);
                } catch (IOException e) {
                    break;
                }
                if (s.length() <= 0) fail(context + ": block status made no progress at " + off);
                off += s.length();
            }
            if (writable) {
                try {
                    n.write(512 * 1024, ByteBuffer.wrap(new byte[4096]), 0);
                    n.write(3 * 1024 * 1024 + 100, ByteBuffer.wrap(new byte[9000]), 0);
                    n.flush();
                } catch (IOException e) {
                    // refused: fine
                }
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            throw new AssertionError(context + ": I/O threw " + e, e);
        } finally {
            try {
                fx.close(n);
            } catch (QapiError | IOException e) {
                // closing a damaged image may fail to store what it holds; cleanly
            } catch (RuntimeException e) {
                throw new AssertionError(context + ": close threw " + e, e);
            }
        }
    }
}
