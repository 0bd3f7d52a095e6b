package jsd.export.vhostuser;

import jsd.testing.JsdProcess;
import jsd.testing.SyncCounter;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The write cache of a vhost-user-blk export, seen from outside: strace
 * counts the daemon's fdatasync calls while the Python front-end makes
 * three writes (two whole buffers, one in six pieces) and no flush. With
 * writethrough=on each write is synced and the config says wce=0; by
 * default none is and it says wce=1; the guest's wce=0 (SET_CONFIG) turns
 * syncing on for a default export.
 */
class VhostUserWritethroughTest {
    static final Path FRONTEND = JsdProcess.HOME.resolve("src/test/resources/vhostuser/frontend.py");

    @Test
    void writesAreSyncedExactlyWhenTheCacheIsOff() throws Exception {
        Path dir = Files.createTempDirectory("jsd-vhost-wt-");
        Path img = dir.resolve("disk.img");
        try (var f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(1 << 20);
        }
        try (JsdProcess jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + img,
                "--export", "vhost-user-blk,id=wt,node-name=f,writable=on,writethrough=on,addr.type=unix,addr.path=" + dir.resolve("wt.sock"),
                "--export", "vhost-user-blk,id=wb,node-name=f,writable=on,addr.type=unix,addr.path=" + dir.resolve("wb.sock"))) {
            jsd.awaitSocket(dir.resolve("wb.sock"));
            assertEquals(3, syncsDuringThreeWrites(jsd, dir.resolve("wt.sock"), "config wce 0"));
            assertEquals(0, syncsDuringThreeWrites(jsd, dir.resolve("wb.sock"), "config wce 1"));
            assertEquals(3, syncsDuringThreeWrites(jsd, dir.resolve("wb.sock"), "config wce 0", "wce=0"));
            assertEquals(0, syncsDuringThreeWrites(jsd, dir.resolve("wb.sock"), "config wce 1", "wce=1"));
        } finally {
            Tools.run(null, "rm", "-rf", dir.toString());
        }
    }

    private static long syncsDuringThreeWrites(JsdProcess jsd, Path sock, String expectConfig, String... wce) throws Exception {
        return SyncCounter.count(jsd, "strace.txt", () -> {
            List<String> cmd = new ArrayList<>(List.of("python3", FRONTEND.toString(), sock.toString(), Integer.toString(1 << 20), "writes"));
            cmd.addAll(List.of(wce));
            Tools.Output o = Tools.run(jsd.dir(), 60, cmd);
            assertEquals(0, o.exitCode(), o.stdout() + o.stderr() + jsd.output());
            assertTrue(o.stdout().contains(expectConfig), o.stdout());
        });
    }
}
