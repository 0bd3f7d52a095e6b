package jsd.export.fuse;

import jsd.testing.JsdProcess;
import jsd.testing.QmpClient;
import jsd.testing.Tools;
import org.junit.jupiter.api.Test;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The same shell session run on files mounted by qemu-storage-daemon 7.2
 * and by jsd, transcripts compared line by line: exit codes, error
 * messages, sizes, modes and owners, lseek answers, checksums, mount
 * options. Four exports each: writable, read-only (over a sparse image),
 * growable, allow-other=off. Punching a hole and zeroing past the end with
 * KEEP_SIZE are left out: there jsd differs on purpose (see README).
 */
class FuseComparisonTest {
    static final String SESSION = """
            cd "$1"
            step() { out=$("$@" 2>&1); rc=$?; args="$*"; echo "${args//$PWD/M} => $rc ${out//$PWD/M}"; }
            seeks() { python3 - "$1" <<'PY'
            import os, sys
            fd = os.open(sys.argv[1], os.O_RDONLY)
            size = os.fstat(fd).st_size
            res = []
            for off in (0, 4096, 65536, 65537, 131072, 262144, size - 1, size, size + 1):
                for w in (os.SEEK_DATA, os.SEEK_HOLE):
                    try:
                        res.append(os.lseek(fd, off, w))
                    except OSError as e:
                        res.append(-e.errno)
            print(res)
            PY
            }
            step stat -c '%s %a %u %g %h %F %b' w
            step md5sum w
            step truncate -s 2M w
            step stat -c %s w
            step truncate -s 1M w
            step dd if=/dev/zero of=w bs=4k seek=255 count=2 conv=notrunc status=none
            step dd if=/dev/zero of=w bs=4k seek=256 count=1 conv=notrunc status=none
            step stat -c %s w
            step chmod 640 w
            step chown 1:2 w
            step stat -c '%a %u %g' w
            step chmod 600 w
            step chown 0:0 w
            step touch w
            step fallocate -l 4k w
            step fallocate -o 1M -l 64k w
            step stat -c %s w
            step fallocate -z -o 4096 -l 8192 w
            step fallocate -c -o 0 -l 4096 w
            step md5sum w
            step sh -c 'echo hello > w'
            step stat -c %s w
            step head -c 6 w
            step stat -c '%s %a %F' ro
            step dd if=/dev/zero of=ro bs=4k count=1 conv=notrunc status=none
            step truncate -s 2M ro
            step chmod 600 ro
            step chmod 444 ro
            step stat -c %a ro
            step chmod 400 ro
            step fallocate -z -l 4k ro
            step fallocate -o 8M -l 4k ro
            step python3 -c "import os; fd = os.open('ro', os.O_RDWR); os.pwrite(fd, b'x', 0)"
            step md5sum ro
            step seeks ro
            step dd if=/dev/zero of=g bs=4k seek=100 count=3 conv=notrunc status=none
            step stat -c %s g
            step truncate -s 100k g
            step fallocate -o 100k -l 28k g
            step stat -c %s g
            step fallocate -z -o 200k -l 4k g
            step stat -c %s g
            step md5sum g
            step chmod 660 off
            step chmod 700 off
            step chown 1 off
            step stat -c '%a %u' off
            step sh -c "grep -c '^/dev/fuse $PWD/off fuse .*allow_other' /proc/mounts"
            step sh -c "grep -c '^/dev/fuse $PWD/w fuse .*allow_other' /proc/mounts"
            step sh -c "grep -c '^/dev/fuse $PWD/w fuse rw,nosuid,nodev,relatime,user_id=0,group_id=0,default_permissions' /proc/mounts"
            step stat -f -c '%b %f %a %s %S %l %c' w
            """;

    static Path setUp(String name) throws Exception {
        Path d = Files.createTempDirectory("jsd-fuse-cmp-" + name + "-");
        Random rnd = new Random(5);
        byte[] data = new byte[1 << 20];
        rnd.nextBytes(data);
        Files.write(d.resolve("w.img"), data);
        try (RandomAccessFile f = new RandomAccessFile(d.resolve("ro.img").toFile(), "rw")) {
            f.setLength(1 << 20);
            f.seek(65536);
            f.write(data, 0, 65536);
            f.seek(262144);
            f.write(data, 0, 4096);
        }
        Files.write(d.resolve("g.img"), new byte[64 << 10]);
        Files.write(d.resolve("off.img"), new byte[64 << 10]);
        for (String m : new String[] {"w", "ro", "g", "off"}) Files.createFile(d.resolve(m));
        return d;
    }

    static String[] args(Path d) {
        return new String[] {
                "--blockdev", "file,node-name=w,filename=" + d.resolve("w.img"),
                "--blockdev", "file,node-name=ro,filename=" + d.resolve("ro.img") + ",read-only=on",
                "--blockdev", "file,node-name=g,filename=" + d.resolve("g.img"),
                "--blockdev", "file,node-name=off,filename=" + d.resolve("off.img"),
                "--export", "fuse,id=w,node-name=w,mountpoint=" + d.resolve("w") + ",writable=on",
                "--export", "fuse,id=ro,node-name=ro,mountpoint=" + d.resolve("ro"),
                "--export", "fuse,id=g,node-name=g,mountpoint=" + d.resolve("g") + ",writable=on,growable=on",
                "--export", "fuse,id=off,node-name=off,mountpoint=" + d.resolve("off") + ",writable=on,allow-other=off",
        };
    }

    @Test
    void sameSessionSameTranscript() throws Exception {
        String[] both = new String[2];
        for (int i = 0; i < 2; i++) {
            boolean reference = i == 0;
            Path d = setUp(reference ? "qsd" : "jsd");
            try {
                String[] a = args(d);
                try (JsdProcess p = reference ? JsdProcess.startReference(a) : JsdProcess.start(a); QmpClient q = p.qmp()) {
                    assertEquals(4, q.ok("query-block-exports", null).size());
                    both[i] = Tools.run(d, 120, List.of("bash", "-c", SESSION, "session", d.toString())).expectOk().stdout();
                    q.ok("quit", null);
                    assertEquals(0, p.waitFor(15));
                }
                for (String m : new String[] {"w", "ro", "g", "off"}) assertFalse(FuseMounts.isMounted(d.resolve(m)), m);
            } finally {
                Tools.run(null, "rm", "-rf", d.toString());
            }
        }
        assertTrue(both[0].lines().count() > 50, both[0]);
        assertEquals(both[0], both[1]);
    }
}
