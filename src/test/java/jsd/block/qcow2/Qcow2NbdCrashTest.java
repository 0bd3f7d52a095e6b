package jsd.block.qcow2;

import com.fasterxml.jackson.databind.JsonNode;
import jsd.testing.JsdProcess;
import jsd.testing.Tools;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The crash test through the real daemon: fio (nbd engine) and a libnbd
 * writer that logs acknowledged requests hit a qcow2 node exported over
 * NBD; the daemon is killed with SIGKILL at random moments (24 rounds), then
 * qemu-img check must find no corruption and every write acknowledged with
 * FUA or followed by an acknowledged flush must be there.
 *
 * Written against qemu-storage-daemon's command line (--nbd-server,
 * --export type=nbd), which jsd's NBD server implements on branch nbd; it
 * runs now that the server is on main.
 */

class Qcow2NbdCrashTest {
    private static final String WRITER = """
            import nbd, sys, random, threading
            sock, log_path, seed, gen_base = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
            log = open(log_path, "a", buffering=1)
            lock = threading.Lock()
            seq = [0]
            BLOCK, THREADS = 4096, 8
            def conn():
                h = nbd.NBD(); h.connect_uri("nbd+unix:///q?socket=" + sock); return h
            def worker(me):
                h, r, gen = conn(), random.Random(seed * 31 + me), gen_base
                blocks = h.get_size() // BLOCK // 2   # the second half is fio's
                while True:
                    b = r.randrange(blocks // THREADS) * THREADS + me
                    gen += 1
                    op = r.randrange(10)
                    if op == 0:
                        h.zero(BLOCK, b * BLOCK); kind = "Z"
                    else:
                        h.pwrite(((b << 32) | gen).to_bytes(8, "big") * (BLOCK // 8), b * BLOCK,
                                 nbd.CMD_FLAG_FUA if op == 1 else 0)
                        kind = "U" if op == 1 else "W"
                    with lock:
                        seq[0] += 1; log.write("A %d %d %d %s\\n" % (seq[0], b, gen, kind))
            for t in range(THREADS): threading.Thread(target=worker, args=(t,), daemon=True).start()
            h = conn()
            import time
            while True:
                time.sleep(0.015)
                with lock: up_to = seq[0]
                h.flush()
                with lock: log.write("F %d\\n" % up_to)
            """;

    @Test
    void killNineUnderFioAndLoggedWriter() throws Exception {
        long seed = Long.getLong("qcow2.seed", System.nanoTime());
        Random r = new Random(seed);
        try (Qcow2Fixture fx = new Qcow2Fixture()) {
            int size = 16 << 20;
            fx.qemuImg("create", "-f", "qcow2", "-o", "cluster_size=4096", "crash.qcow2", "" + size).expectOk();
            Files.writeString(fx.path("writer.py"), WRITER);
            long[] durableGen = new long[size / Qcow2CrashWriter.BLOCK];
            boolean[] zeroAllowed = new boolean[durableGen.length];
            java.util.Arrays.fill(zeroAllowed, true);
            long checked = 0;
            for (int round = 0; round < 24; round++) {
                Path sock = fx.path("nbd" + round + ".sock");
                Path log = fx.path("round" + round + ".log");
                try (JsdProcess jsd = JsdProcess.start(
                        "--blockdev", "qcow2,node-name=q,discard=unmap,file.driver=file,file.filename=" + fx.path("crash.qcow2"),
                        "--nbd-server", "addr.type=unix,addr.path=" + sock,
                        "--export", "type=nbd,id=e,node-name=q,name=q,writable=on")) {
                    jsd.awaitSocket(sock);
                    // fio keeps other writes in flight (the second half of the disk is its own)
                    Process fio = new ProcessBuilder("fio", "--name=load", "--ioengine=nbd", "--uri=nbd+unix:///q?socket=" + sock,
                            "--rw=randwrite", "--bs=4k", "--iodepth=16", "--fsync=64", "--time_based", "--runtime=60",
                            "--offset=" + size / 2, "--size=" + size / 2).redirectErrorStream(true)
                            .redirectOutput(fx.path("fio" + round + ".out").toFile()).start();
                    Process writer = new ProcessBuilder("/usr/bin/python3", fx.path("writer.py").toString(), sock.toString(), log.toString(),
                            "" + (seed + round), "" + (round + 1) * 100_000_000L).redirectErrorStream(true)
                            .redirectOutput(fx.path("writer" + round + ".out").toFile()).start();
                    Thread.sleep(300 + r.nextInt(1500));
                    jsd.process().destroyForcibly(); // SIGKILL to the daemon, requests in flight
                    jsd.process().waitFor();
                    writer.destroyForcibly().waitFor();
                    // fio runs its job in a forked child, which a SIGKILL to fio itself would orphan
                    fio.descendants().forEach(ProcessHandle::destroyForcibly);
                    fio.destroyForcibly().waitFor();
                }
                Tools.Output check = fx.qemuImg("check", "--output=json", fx.path("crash.qcow2").toString());
                JsonNode c = Qcow2Fixture.JSON.readTree(check.stdout());
                assertEquals(0, c.path("corruptions").asInt(0), "round " + round + " seed " + seed + ": " + check.stdout());
                List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
                fx.qemuImg("convert", "-O", "raw", "crash.qcow2", "crash.raw").expectOk();
                byte[] img = Files.readAllBytes(fx.path("crash.raw"));
                byte[] firstHalf = java.util.Arrays.copyOf(img, size / 2); // fio owns the rest
                long[] dg = java.util.Arrays.copyOf(durableGen, durableGen.length / 2);
                boolean[] za = java.util.Arrays.copyOf(zeroAllowed, zeroAllowed.length / 2);
                List<String> mine = lines.stream().filter(l -> !l.startsWith("A ")
                        || Integer.parseInt(l.split(" ")[2]) < dg.length).toList();
                checked += Qcow2CrashTest.verifyRound(round, seed, mine, firstHalf, dg, za, 8);
                System.arraycopy(dg, 0, durableGen, 0, dg.length);
                System.arraycopy(za, 0, zeroAllowed, 0, za.length);
            }
            System.out.println("Qcow2NbdCrashTest: 24 kills of the daemon, " + checked + " acknowledged-durable requests verified, "
                    + "no corruption");
            assertTrue(checked > 1000, "too few acknowledged requests to prove anything: " + checked);
        }
    }
}
