package jsd.export.vhostuser;

import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real QEMU guest (TCG) as the front-end, through the shared guest
 * harness (../shared/guest, or $JSD_GUEST_HARNESS): its virtio-blk driver
 * negotiates, maps the rings and runs reads, writes, flushes, discards and
 * write-zeroes; the image is checked on the host afterwards. Two boots
 * only: the machine is small and TCG is slow.
 */
class VhostUserGuestTest {
    static final long SIZE = 64L << 20;
    static final Path HARNESS = Path.of(System.getenv().getOrDefault("JSD_GUEST_HARNESS",
            JsdProcess.HOME.getParent().resolve("shared/guest").toString()));
    static Path work;

    @BeforeAll
    static void setup() throws Exception {
        assertTrue(Files.isExecutable(HARNESS.resolve("vhost-user-guest")),
                "guest harness not found at " + HARNESS + " (set JSD_GUEST_HARNESS)");
        // installs qemu-system-x86, the guest kernel and busybox when missing, builds the initramfs
        Tools.run(null, 900, List.of(HARNESS.resolve("setup").toString())).expectOk();
        work = Files.createTempDirectory("jsd-vhost-guest-");
    }

    @AfterAll
    static void cleanup() throws IOException {
        if (work == null) return;
        try (var s = Files.list(work)) {
            for (Path p : s.toList()) Files.deleteIfExists(p);
        }
        Files.deleteIfExists(work);
    }

    static Path image(String name) throws IOException {
        Path p = work.resolve(name);
        try (var f = new java.io.RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(SIZE);
        }
        return p;
    }

    static Tools.Output guest(Path sock, String... options) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(HARNESS.resolve("vhost-user-guest").toString(), sock.toString(),
                "--expect-size", Long.toString(SIZE), "--timeout", "300"));
        cmd.addAll(List.of(options));
        Tools.Output o = Tools.run(work, 360, cmd);
        System.out.println(o.stdout());
        return o;
    }

    @Test
    void readWriteTwoQueuesFourKiBSectors() throws Exception {
        Path img = image("rw.img");
        Path sock = work.resolve("rw.sock");
        try (JsdProcess jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + img,
                "--export", "vhost-user-blk,id=v,node-name=f,addr.type=unix,addr.path=" + sock
                        + ",writable=on,num-queues=2,logical-block-size=4096")) {
            jsd.awaitSocket(sock);
            // the device is reset and set up again once (driver unbound and bound) before the workload
            Tools.Output o = guest(sock, "--queues", "2", "--expect-lbs", "4096",
                    "--script", JsdProcess.HOME.resolve("src/test/resources/vhostuser/rebind.sh").toString());
            assertEquals(0, o.exitCode(), o.stdout() + o.stderr() + "\ndaemon:\n" + jsd.output());
            assertTrue(o.stdout().contains("PASS rebind"), o.stdout());
            assertTrue(o.stdout().contains(" passed, 0 failed"), o.stdout());
            assertTrue(o.stdout().contains("PASS mq-parallel"), o.stdout());
            assertTrue(o.stdout().contains("PASS write-zeroes"), o.stdout());
            try (QmpClient q = jsd.qmp()) {
                // the guest has gone (QEMU ended): the export stays and is deleted normally
                assertEquals("vhost-user-blk", q.ok("query-block-exports", null).get(0).get("type").asText());
                q.ok("block-export-del", Map.of("id", "v"));
                q.event("BLOCK_EXPORT_DELETED", Duration.ofSeconds(10));
            }
        }
        Tools.Output v = Tools.run(work, 120, List.of(HARNESS.resolve("verify-pattern").toString(), img.toString()));
        System.out.println(v.stdout());
        assertEquals(0, v.exitCode(), v.stdout() + v.stderr());
    }

    @Test
    void readOnly() throws Exception {
        Path img = image("ro.img");
        Path sock = work.resolve("ro.sock");
        try (JsdProcess jsd = JsdProcess.start("--blockdev", "file,node-name=f,read-only=on,filename=" + img,
                "--export", "vhost-user-blk,id=v,node-name=f,addr.type=unix,addr.path=" + sock)) {
            jsd.awaitSocket(sock);
            Tools.Output o = guest(sock, "--read-only");
            assertEquals(0, o.exitCode(), o.stdout() + o.stderr() + "\ndaemon:\n" + jsd.output());
            assertTrue(o.stdout().contains("PASS write-rejected"), o.stdout());
            assertTrue(o.stdout().contains("PASS read:"), o.stdout());
        }
    }
}
