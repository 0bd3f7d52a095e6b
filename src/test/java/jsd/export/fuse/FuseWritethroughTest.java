package jsd.export.fuse;

import jsd.testing.JsdProcess;
import jsd.testing.SyncCounter;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * writethrough=on syncs every write before answering it; without it a
 * write is synced by the FLUSH that close(2) sends (or by fsync). Seen
 * from outside: strace counts the daemon's fdatasync calls while a program
 * writes twice to the mounted file and closes it.
 */
class FuseWritethroughTest {
    @Test
    void writethroughSyncsEveryWriteAndWritebackOnlyAtClose() throws Exception {
        Path dir = Files.createTempDirectory("jsd-fuse-wt-");
        Path img = dir.resolve("a.img");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(16 << 20);
        }
        Files.createFile(dir.resolve("wt"));
        Files.createFile(dir.resolve("wb"));
        try (JsdProcess jsd = JsdProcess.start("--blockdev", "file,node-name=f,filename=" + img,
                "--export", "fuse,id=wt,node-name=f,mountpoint=" + dir.resolve("wt") + ",writable=on,writethrough=on",
                "--export", "fuse,id=wb,node-name=f,mountpoint=" + dir.resolve("wb") + ",writable=on");
             QmpClient qmp = jsd.qmp()) {
            qmp.ok("query-block-exports", null);
            assertEquals(2, syncsDuringTwoWritesAndClose(jsd, dir.resolve("wt")));
            assertEquals(1, syncsDuringTwoWritesAndClose(jsd, dir.resolve("wb")));
        } finally {
            Tools.run(null, "rm", "-rf", dir.toString());
        }
    }

    private static long syncsDuringTwoWritesAndClose(JsdProcess jsd, Path file) throws Exception {
        return SyncCounter.count(jsd, "strace-" + file.getFileName() + ".txt", () -> {
            String script = "import os\n"
                    + "fd = os.open('" + file + "', os.O_WRONLY)\n"
                    + "os.pwrite(fd, b'x' * 4096, 0)\n"
                    + "os.pwrite(fd, b'y' * 4096, 8192)\n"
                    + "os.close(fd)\n";
            Tools.run(jsd.dir(), 60, List.of("/usr/bin/python3", "-c", script)).expectOk();
        });
    }
}
