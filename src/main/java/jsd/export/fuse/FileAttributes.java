package jsd.export.fuse;

import jsd.block.BlockNode;
import jsd.sys.Libc;
import jsd.sys.Mounts;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The exported file's inode as the kernel sees it: a regular file owned by
 * the daemon's user, read-only (0400) or writable (0600) at first;
 * chmod/chown change only this in-memory copy, as in qemu-storage-daemon.
 * Times are "now" at every look, and the block count is the image file's
 * allocation (or the size when that is unknown or zero).
 */
final class FileAttributes {
    /** The kernel may cache attributes this long (seconds), as qemu-storage-daemon allows. */
    static final long ATTR_VALID_SECONDS = 1;
    /** st_blksize: the preferred I/O size. */
    private static final int BLOCK_SIZE = 4096;

    private final BlockNode node;
    /**
     * The image file, opened before the mount: a daemon that looked it up by
     * name while serving could walk into its own mount (the image may be the
     * mount point) and wait on itself forever.
     */
    private final FileChannel allocationFile;
    private volatile int mode;
    private volatile int uid;
    private volatile int gid;

    FileAttributes(BlockNode node, boolean writable) {
        this.node = node;
        this.allocationFile = openLeafFile(node);
        this.mode = Mounts.S_IFREG | (writable ? 0600 : 0400);
        this.uid = Mounts.getuid();
        this.gid = Mounts.getgid();
    }

    /** The host file at the bottom of the node's first-child chain, whose allocation st_blocks reports. */
    private static FileChannel openLeafFile(BlockNode node) {
        BlockNode n = node;
        for (int depth = 0; depth < 16 && n != null; depth++) {
            if ("file".equals(n.driver())) {
                try {
                    return FileChannel.open(Path.of(n.filename()), StandardOpenOption.READ);
                } catch (IOException | RuntimeException e) {
                    return null;
                }
            }
            n = n.children().isEmpty() ? null : n.children().getFirst();
        }
        return null;
    }

    /** Closes the image file opened for st_blocks. */
    void close() {
        try {
            if (allocationFile != null) allocationFile.close();
        } catch (IOException e) {
            // nothing was written through it
        }
    }

    int mode() { return mode; }

    /** Sets the permission bits; the file type stays a regular file. */
    void setPermissions(int newMode) { mode = Mounts.S_IFREG | (newMode & 07777); }

    void setUid(int newUid) { uid = newUid; }

    void setGid(int newGid) { gid = newGid; }

    /** Writes a struct fuse_attr_out at dst's position. */
    void writeAttrOut(ByteBuffer dst) throws IOException {
        long size = node.size();
        long blocks = -1;
        if (allocationFile != null) {
            try {
                blocks = Mounts.fstat(Libc.fd(allocationFile)).blocks();
            } catch (IOException e) {
                blocks = -1;
            }
        }
        if (blocks <= 0) blocks = (size + 511) / 512;
        long now = System.currentTimeMillis() / 1000;
        dst.putLong(ATTR_VALID_SECONDS).putInt(0).putInt(0);
        dst.putLong(FuseConstants.FUSE_ROOT_ID);
        dst.putLong(size);
        dst.putLong(blocks);
        dst.putLong(now).putLong(now).putLong(now);
        dst.putInt(0).putInt(0).putInt(0);
        dst.putInt(mode);
        dst.putInt(1); // nlink
        dst.putInt(uid).putInt(gid);
        dst.putInt(0); // rdev
        dst.putInt(BLOCK_SIZE);
        dst.putInt(0); // flags
    }
}
