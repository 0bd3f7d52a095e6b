package jsd.block;

import jsd.sys.Errno;
import jsd.sys.Libc;

import java.io.IOException;

/**
 * QEMU's image locking protocol, so that jsd and QEMU tools see each other:
 * byte 100+i is read-locked by every opener holding permission i, byte
 * 200+i by every opener that does not let others have permission i.
 * Permissions: 0 consistent read, 1 write, 2 write-unchanged, 3 resize.
 */
final class ImageLock {
    private static final String[] PERM_NAMES = {"consistent read", "write", "write unchanged", "resize"};
    private static final int READ = 0, WRITE = 1, RESIZE = 3;

    private ImageLock() {}

    /** Takes the lock bytes for a reader or a writer, failing as QEMU does when another process conflicts. */
    static ImageLock acquire(int fd, String filename, boolean readOnly) throws IOException {
        int held = readOnly ? bit(READ) : bit(READ) | bit(WRITE);
        // Like qemu-storage-daemon's writable export over raw (which shares write with other
        // writers, so that e.g. qemu-nbd may serve the same file), only resizing is refused.
        int unshared = readOnly ? 0 : bit(RESIZE);
        for (int i = 0; i < PERM_NAMES.length; i++) {
            if ((held & bit(i)) != 0 && !Libc.ofdLock(fd, Libc.F_WRLCK, 200 + i, true)) {
                throw conflict("Failed to get \"" + PERM_NAMES[i] + "\" lock", filename);
            }
            if ((unshared & bit(i)) != 0 && !Libc.ofdLock(fd, Libc.F_WRLCK, 100 + i, true)) {
                throw conflict("Failed to get shared \"" + PERM_NAMES[i] + "\" lock", filename);
            }
        }
        for (int i = 0; i < PERM_NAMES.length; i++) {
            if ((held & bit(i)) != 0) Libc.ofdLock(fd, Libc.F_RDLCK, 100 + i, false);
            if ((unshared & bit(i)) != 0) Libc.ofdLock(fd, Libc.F_RDLCK, 200 + i, false);
        }
        return new ImageLock();
    }

    private static int bit(int i) { return 1 << i; }

    private static BlockException conflict(String what, String filename) {
        return new BlockException(Errno.EAGAIN, what + "\nIs another process using the image [" + filename + "]?");
    }
}
