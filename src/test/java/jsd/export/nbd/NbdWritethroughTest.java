package jsd.export.nbd;

import jsd.testing.JsdProcess;
import jsd.testing.SyncCounter;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * writethrough=on makes every write reach stable storage before it is
 * acknowledged; without it a plain write is not synced until a flush. Seen
 * from outside: strace counts the daemon's fdatasync calls while a libnbd
 * client sends two plain writes to each kind of export.
 */
class NbdWritethroughTest {
    @Test
    void writethroughSyncsEveryWriteAndWritebackNone() throws Exception {
        Path dir = Files.createTempDirectory("jsd-wt-");
        Path img = dir.resolve("a.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(16 << 20);
        }
        try (JsdProcess jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + img,
                "--nbd-server", "addr.type=unix,addr.path=nbd.sock",
                "--export", "nbd,id=wt,node-name=f,name=wt,writable=on,writethrough=on",
                "--export", "nbd,id=wb,node-name=f,name=wb,writable=on")) {
            Path sock = jsd.dir().resolve("nbd.sock");
            jsd.awaitSocket(sock);
            assertEquals(2, syncsDuringTwoWrites(jsd, sock, "wt"));
            assertEquals(0, syncsDuringTwoWrites(jsd, sock, "wb"));
        } finally {
            Tools.run(null, "rm", "-rf", dir.toString());
        }
    }

    private static long syncsDuringTwoWrites(JsdProcess jsd, Path sock, String export) throws Exception {
        return SyncCounter.count(jsd, "strace-" + export + ".txt", () -> {
            String script = "import nbd\n"
                    + "h = nbd.NBD()\n"
                    + "h.connect_uri('nbd+unix:///" + export + "?socket=" + sock + "')\n"
                    + "h.pwrite(b'x' * 4096, 0)\n"
                    + "h.pwrite(b'y' * 4096, 8192)\n"
                    + "h.shutdown()\n";
            Tools.run(jsd.dir(), 60, List.of("/usr/bin/python3", "-c", script)).expectOk();
        });
    }
}
