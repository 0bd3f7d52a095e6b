package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * The victim of {@link Qcow2CrashTest}: a separate JVM that opens a qcow2
 * image read-write and writes stamped 4 KiB blocks from several threads,
 * with FUA writes, zeroings and periodic flushes, logging every completed
 * request until it is killed with SIGKILL. Log lines (unbuffered, so they
 * survive the kill): "A seq block gen kind" for a completed request (kind W
 * write, U FUA write, Z zeroing) and "F seq" once a flush that started after
 * request seq completed has returned.
 *
 * Block b holds the 8-byte value (b << 32 | gen) repeated.
 */
public final class Qcow2CrashWriter {
    static final int BLOCK = 4096;

    public static void main(String[] args) throws Exception {
        String image = args[0];
        FileOutputStream log = new FileOutputStream(args[1], true);
        long seed = Long.parseLong(args[2]);
        long genBase = Long.parseLong(args[3]);
        int threads = 8;
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            BlockNode n = fx.open("{'driver':'qcow2','node-name':'q','discard':'unmap','file':{'driver':'file','filename':'" + image + "'}}");
            int blocks = (int) (n.size() / BLOCK);
            long[] seq = {0};
            Object logLock = new Object();
            for (int t = 0; t < threads; t++) {
                final int me = t;
                Thread.ofPlatform().start(() -> {
                    Random r = new Random(seed * 31 + me);
                    long gen = genBase;
                    ByteBuffer buf = ByteBuffer.allocate(BLOCK);
                    try {
                        while (true) {
                            int b = r.nextInt(blocks / threads) * threads + me; // blocks are owned by one thread
                            gen++;
                            int op = r.nextInt(10);
                            char kind;
                            if (op == 0) {
                                n.writeZeroes((long) b * BLOCK, BLOCK, BlockNode.MAY_UNMAP);
                                kind = 'Z';
                            } else {
                                for (int i = 0; i < BLOCK; i += 8) buf.putLong(i, ((long) b << 32) | gen);
                                kind = op == 1 ? 'U' : 'W';
                                n.write((long) b * BLOCK, buf.clear(), op == 1 ? BlockNode.FUA : 0);
                            }
                            synchronized (logLock) {
                                seq[0]++;
                                log.write(("A " + seq[0] + " " + b + " " + gen + " " + kind + "\n").getBytes(StandardCharsets.US_ASCII));
                            }
                        }
                    } catch (Exception e) {
                        e.printStackTrace();
                        System.exit(3);
                    }
                });
            }
            while (true) {
                Thread.sleep(15);
                long upTo;
                synchronized (logLock) { upTo = seq[0]; }
                n.flush();
                synchronized (logLock) { log.write(("F " + upTo + "\n").getBytes(StandardCharsets.US_ASCII)); }
            }
        }
    }
}
