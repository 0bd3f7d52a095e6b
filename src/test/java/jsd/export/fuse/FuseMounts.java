package jsd.export.fuse;

import java.nio.file.Files;
import java.nio.file.Path;

/** Whether a path is a mount point right now, from /proc/self/mountinfo (for tests). */
final class FuseMounts {
    private FuseMounts() {}

    static boolean isMounted(Path p) throws java.io.IOException {
        String want = p.toAbsolutePath().normalize().toString();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] f = line.split(" ");
            if (f.length > 4 && f[4].equals(want)) return true;
        }
        return false;
    }
}
