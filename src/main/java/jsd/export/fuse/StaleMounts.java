package jsd.export.fuse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds what a killed daemon leaves behind: a FUSE mount whose connection
 * is gone (every access fails with ENOTCONN). qemu-storage-daemon mounts
 * over it again and leaves it underneath for good; jsd detaches it first,
 * but only when /proc/self/mountinfo shows a mount of the same kind (type
 * "fuse" from "/dev/fuse") exactly at the mount point.
 */
final class StaleMounts {
    private StaleMounts() {}

    static boolean isFuseMountPoint(String mountpoint) {
        String want = Path.of(mountpoint).toAbsolutePath().normalize().toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String[] f = line.split(" ");
                int dash = indexOf(f, "-");
                if (f.length < 5 || dash < 0 || dash + 2 >= f.length) continue;
                if (unescape(f[4]).equals(want) && f[dash + 1].equals("fuse") && f[dash + 2].equals("/dev/fuse")) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    private static int indexOf(String[] fields, String s) {
        for (int i = 6; i < fields.length; i++) if (fields[i].equals(s)) return i;
        return -1;
    }

    /** mountinfo writes space, tab, newline and backslash as \ooo. */
    private static String unescape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 4 <= s.length()) {
                try {
                    b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                    i += 3;
                    continue;
                } catch (NumberFormatException e) {
                    // not an escape: keep the backslash
                }
            }
            b.append(c);
        }
        return b.toString();
    }
}
