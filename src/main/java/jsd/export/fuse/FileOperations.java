package jsd.export.fuse;

import jsd.block.BlockNode;
import jsd.block.BlockStatus;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;

import static jsd.export.fuse.FuseConstants.*;

/**
 * What the exported file does for each file operation, after
 * qemu-storage-daemon 7.2's FUSE export: reads and writes clipped at the
 * end of the image (a write beyond it grows the image when growable, else
 * comes out short), truncate and fallocate through the block node, chmod
 * and chown on the in-memory inode, SEEK_DATA/SEEK_HOLE from block status.
 * Each handler reads its request's fields, writes its reply body at
 * {@link FuseRequest#replyBody()} and returns the body's length, or a
 * negated errno.
 */
final class FileOperations {
    private final BlockNode node;
    private final FileAttributes attributes;
    private final boolean writable;
    private final boolean growable;
    private final boolean allowOther;
    private final int writeFlags;
    /** Serialises size changes, so that concurrent writes past the end grow the image once, to the largest end. */
    private final Object resizeLock = new Object();
    /** Written since the last flush: a FLUSH (sent at every close) only syncs when something was. */
    private volatile boolean dirty;

    FileOperations(BlockNode node, FileAttributes attributes, boolean writable, boolean growable,
                   boolean writethrough, boolean allowOther) {
        this.node = node;
        this.attributes = attributes;
        this.writable = writable;
        this.growable = growable;
        this.allowOther = allowOther;
        this.writeFlags = writethrough ? BlockNode.FUA : 0;
    }

    int getattr(FuseRequest r) throws IOException {
        attributes.writeAttrOut(r.replyBody());
        return ATTR_OUT_SIZE;
    }

    int setattr(FuseRequest r) throws FuseRequest.Malformed, IOException {
        r.requireBody(SETATTR_IN_SIZE);
        int valid = r.u32(0) & ~(FATTR_FH | FATTR_LOCKOWNER);
        long size = r.u64(16);
        int mode = r.u32(68);
        int uid = r.u32(76);
        int gid = r.u32(80);
        int supported = FATTR_SIZE | FATTR_MODE | (allowOther ? FATTR_UID | FATTR_GID : 0);
        if ((valid & ~supported) != 0) return -Errno.ENOTSUP;
        if ((valid & FATTR_MODE) != 0) {
            // without allow_other nobody but the owner can reach the file: group/other bits would lie
            if (!allowOther && (mode & 077) != 0) return -Errno.EPERM;
            if (!writable && (mode & 0222) != 0) return -Errno.EROFS;
        }
        if ((valid & FATTR_SIZE) != 0) {
            if (!writable) return -Errno.EACCES;
            if (size < 0) return -Errno.EINVAL;
            resize(size);
        }
        if ((valid & FATTR_MODE) != 0) attributes.setPermissions(mode);
        if ((valid & FATTR_UID) != 0) attributes.setUid(uid);
        if ((valid & FATTR_GID) != 0) attributes.setGid(gid);
        return getattr(r);
    }

    int open(FuseRequest r) {
        // fh 0, no open flags: the page cache is used, and dropped at each open
        r.replyBody().putLong(0).putInt(0).putInt(0);
        return OPEN_OUT_SIZE;
    }

    int read(FuseRequest r) throws FuseRequest.Malformed, IOException {
        r.requireBody(24);
        long offset = r.u64(8);
        long size = Integer.toUnsignedLong(r.u32(16));
        if (offset < 0 || size > r.replyCapacity()) return -Errno.EINVAL;
        long length = node.size();
        int count = offset >= length ? 0 : (int) Math.min(size, length - offset);
        if (count > 0) {
            ByteBuffer dst = r.replyBody();
            dst.limit(OUT_HEADER_SIZE + count);
            node.read(offset, dst);
        }
        return count;
    }

    int write(FuseRequest r) throws FuseRequest.Malformed, IOException {
        r.requireBody(WRITE_IN_SIZE);
        long offset = r.u64(8);
        long size = Integer.toUnsignedLong(r.u32(16));
        if (size != r.bodyLength() - WRITE_IN_SIZE) return -Errno.EINVAL;
        if (!writable) return -Errno.EACCES;
        if (offset < 0 || offset > Long.MAX_VALUE - size) return -Errno.EINVAL;
        long end = offset + size;
        long length = node.size();
        int count = (int) size;
        if (end > length) {
            if (growable) {
                growTo(end);
            } else {
                // short write at the end of the image, which the kernel reports as EIO
                count = (int) Math.max(0, length - offset);
            }
        }
        if (count > 0) {
            if (writeFlags == 0) dirty = true; // with writethrough each write is already stable
            node.write(offset, r.slice(WRITE_IN_SIZE, count), writeFlags);
        }
        r.replyBody().putInt(count).putInt(0);
        return WRITE_OUT_SIZE;
    }

    /** FLUSH comes with every close(2); it syncs only when something was written since the last sync. */
    int flush(FuseRequest r) throws IOException {
        if (dirty) fsync(r);
        return 0;
    }

    int fsync(FuseRequest r) throws IOException {
        dirty = false;
        try {
            node.flush();
        } catch (IOException | RuntimeException e) {
            dirty = true;
            throw e;
        }
        return 0;
    }

    /** As libfuse answers when a file system has no statfs: 512-byte blocks, names up to 255, no counts. */
    int statfs(FuseRequest r) {
        ByteBuffer b = r.replyBody();
        for (int i = 0; i < 5; i++) b.putLong(0);
        b.putInt(512).putInt(255).putInt(512).putInt(0);
        for (int i = 0; i < 6; i++) b.putInt(0);
        return STATFS_OUT_SIZE;
    }

    int fallocate(FuseRequest r) throws FuseRequest.Malformed, IOException {
        r.requireBody(FALLOCATE_IN_SIZE);
        long offset = r.u64(8);
        long length = r.u64(16);
        int mode = r.u32(24);
        if (!writable) return -Errno.EACCES;
        if (offset < 0 || length <= 0 || offset > Long.MAX_VALUE - length) return -Errno.EINVAL;
        long size = node.size();
        if ((mode & FALLOC_FL_KEEP_SIZE) != 0) {
            length = Math.min(length, size - offset);
            if (length <= 0) return 0;
        }
        if (mode == 0) {
            // allocation only makes sense at the end, where it means growing the image
            if (offset < size) return -Errno.ENOTSUP;
            growTo(offset + length);
        } else if ((mode & FALLOC_FL_PUNCH_HOLE) != 0) {
            if ((mode & FALLOC_FL_KEEP_SIZE) == 0) return -Errno.EINVAL;
            // fallocate(2) promises zeroes where the hole was: a discard alone may keep the old data
            dirty = true;
            node.writeZeroes(offset, length, BlockNode.MAY_UNMAP);
        } else if ((mode & FALLOC_FL_ZERO_RANGE) != 0) {
            if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && offset + length > size) growTo(offset + length);
            dirty = true;
            node.writeZeroes(offset, length, 0);
        } else {
            return -Errno.ENOTSUP;
        }
        return 0;
    }

    int lseek(FuseRequest r) throws FuseRequest.Malformed, IOException {
        r.requireBody(LSEEK_IN_SIZE);
        long offset = r.u64(8);
        int whence = r.u32(16);
        if (whence != SEEK_DATA && whence != SEEK_HOLE) return -Errno.EINVAL;
        if (offset < 0) return -Errno.ENXIO;
        long length = node.size();
        while (true) {
            if (offset >= length) {
                // the end of the image counts as a hole; past it there is nothing
                if (offset > length || whence == SEEK_DATA) return -Errno.ENXIO;
                break;
            }
            BlockStatus s = node.blockStatus(offset, length - offset);
            if (s.isData() == (whence == SEEK_DATA)) break;
            if (s.length() <= 0) return -Errno.ENXIO;
            offset += s.length();
        }
        r.replyBody().putLong(offset);
        return LSEEK_OUT_SIZE;
    }

    private void resize(long size) throws IOException {
        synchronized (resizeLock) {
            dirty = true;
            if (node.size() != size) node.truncate(size);
        }
    }

    private void growTo(long end) throws IOException {
        synchronized (resizeLock) {
            dirty = true;
            if (node.size() < end) node.truncate(end);
        }
    }
}
