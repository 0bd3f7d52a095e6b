package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kill -9 of a process writing a qcow2 image through jsd's driver, at random
 * moments, 24 times over on the same image. After every kill qemu-img check
 * must find no corruption, and every write acknowledged with FUA or followed
 * by an acknowledged flush must be there (or something newer). Leaked
 * clusters are allowed and counted: a kill between a flush's refcount and
 * L2 writes leaves clusters counted but unused, which is safe (QEMU behaves
 * the same without lazy refcounts).
 */
class Qcow2CrashTest {
    @Test
    void killNineAtRandomMoments() throws Exception {
        long seed = Long.getLong("qcow2.seed", System.nanoTime());
        Random r = new Random(seed);
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            int size = 16 << 20;
            int blocks = size / Qcow2CrashWriter.BLOCK;
            fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", "crash.qcow2", "" + size).expectOk();
            long[] durableGen = new long[blocks];   // per block: the oldest generation that may be found (0: zeroes allowed)
            boolean[] zeroAllowed = new boolean[blocks];
            java.util.Arrays.fill(zeroAllowed, true);
            int totalLeaks = 0;
            int roundsWithLeaks = 0;
            long checkedDurable = 0;
            for (int round = 0; round < 24; round++) {
                Path log = fx.path("round" + round + ".log");
                String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
                Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                        "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens", "java.base/java.io=ALL-UNNAMED",
                        "-cp", System.getProperty("java.class.path"), Qcow2CrashWriter.class.getName(),
                        fx.path("crash.qcow2").toString(), log.toString(), "" + (seed + round), "" + (round + 1) * 100_000_000L)
                        .redirectErrorStream(true).redirectOutput(fx.path("round" + round + ".out").toFile()).start();
                // let it start (JVM, open) and then write for a random while
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while ((!Files.exists(log) || Files.size(log) == 0) && System.nanoTime() < deadline && p.isAlive()) Thread.sleep(10);
                assertTrue(p.isAlive(), "writer died: " + Files.readString(fx.path("round" + round + ".out")));
                Thread.sleep(50 + r.nextInt(700));
                p.destroyForcibly(); // SIGKILL
                p.waitFor();

                Tools.Output check = fx.qemuImg("check", "--output=json", fx.path("crash.qcow2").toString());
                JsonNode c = Qcow2Fixture.JSON.readTree(check.stdout());
                assertEquals(0, c.path("corruptions").asInt(0), "round " + round + " seed " + seed + ": " + check.stdout());
                assertTrue(check.exitCode() == 0 || check.exitCode() == 3, "round " + round + ": " + check.stdout() + check.stderr());
                int leaks = c.path("leaks").asInt(0); // leaks stay until repaired: count the new ones
                if (leaks > totalLeaks) roundsWithLeaks++;
                totalLeaks = Math.max(totalLeaks, leaks);

                List<String> lines = Files.readAllLines(log);
                fx.qemuImg("convert", "-O", "raw", "crash.qcow2", "crash.raw").expectOk();
                checkedDurable += verifyRound(round, seed, lines, Files.readAllBytes(fx.path("crash.raw")), durableGen, zeroAllowed, 8);
            }
            System.out.println("Qcow2CrashTest: 24 kills, " + checkedDurable + " acknowledged-durable requests verified, "
                    + roundsWithLeaks + " kills left new leaked clusters (" + totalLeaks + " leaked clusters in the end), no corruption");
            assertTrue(checkedDurable > 1000, "the writer did too little to prove anything: " + checkedDurable);
        }
    }

    /**
     * Checks one crashed image (raw bytes) against a writer's log (see
     * {@link Qcow2CrashWriter} for the format) and carries what is on disk
     * now into durableGen/zeroAllowed for the next round. Returns the number
     * of acknowledged-durable requests checked.
     */
    static long verifyRound(int round, long seed, List<String> lines, byte[] img, long[] durableGen, boolean[] zeroAllowed,
                            int threads) {
        long checked = 0;
        // what the log promises
        long flushedUpTo = 0;
        for (String l : lines) if (l.startsWith("F ")) flushedUpTo = Math.max(flushedUpTo, Long.parseLong(l.substring(2).trim()));
        for (String l : lines) {
            String[] f = l.split(" ");
            if (!f[0].equals("A") || f.length < 5) continue;
            long seq = Long.parseLong(f[1]);
            int b = Integer.parseInt(f[2]);
            long gen = Long.parseLong(f[3]);
            boolean durable = f[4].equals("U") || seq <= flushedUpTo;
            if (!durable) continue;
            checked++;
            if (gen > durableGen[b] || (gen == durableGen[b])) {
                durableGen[b] = gen;
                zeroAllowed[b] = f[4].equals("Z");
            }
        }
        ByteBuffer bb = ByteBuffer.wrap(img);
        int[] unexplained = new int[threads];
        for (int b = 0; b < durableGen.length; b++) {
            long first = bb.getLong(b * Qcow2CrashWriter.BLOCK);
            for (int i = 8; i < Qcow2CrashWriter.BLOCK; i += 8) {
                if (bb.getLong(b * Qcow2CrashWriter.BLOCK + i) != first) {
                    throw new AssertionError("round " + round + " seed " + seed + ": block " + b + " is torn");
                }
            }
            if (first == 0) {
                // zeroes are right if the block was never durably written, or its newest durable
                // request was a zeroing, or a logged zeroing is newer; otherwise only the one
                // request its writer thread had in flight (unlogged) at the kill can explain them
                boolean laterZero = false;
                for (String l : lines) {
                    String[] f = l.split(" ");
                    if (f[0].equals("A") && f.length >= 5 && f[4].equals("Z") && Integer.parseInt(f[2]) == b
                            && Long.parseLong(f[3]) >= durableGen[b]) laterZero = true;
                }
                if (!zeroAllowed[b] && !laterZero) {
                    int owner = b % threads;
                    unexplained[owner]++;
                    if (unexplained[owner] > 1) {
                        throw new AssertionError("round " + round + " seed " + seed + ": block " + b
                                + " lost generation " + durableGen[b] + " (reads as zeroes)");
                    }
                }
                zeroAllowed[b] = true;
                durableGen[b] = 0;
                continue;
            }
            int stampBlock = (int) (first >>> 32);
            long gen = first & 0xffffffffL;
            if (stampBlock != b) throw new AssertionError("round " + round + " seed " + seed + ": block " + b + " holds block " + stampBlock + "'s data");
            if (gen < durableGen[b]) {
                throw new AssertionError("round " + round + " seed " + seed + ": block " + b + " went back from generation "
                        + durableGen[b] + " to " + gen);
            }
            durableGen[b] = gen;   // what is on disk now survives into the next round
            zeroAllowed[b] = false;
        }
            return checked;
    }
}
