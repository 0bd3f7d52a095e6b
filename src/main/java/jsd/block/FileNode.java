package jsd.block;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.sys.Errno;
import jsd.sys.Libc;
import jsd.sys.SysException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The "file" protocol driver: a host file or block device, read and written
 * with positional system calls (pread/pwrite through FileChannel), holes
 * found with SEEK_DATA/SEEK_HOLE, zeroes and discards done with fallocate.
 * With cache.direct=on the file is opened O_DIRECT and every transfer goes
 * through an aligned bounce buffer.
 */
public final class FileNode extends BlockNode {
    private static final int DIRECT_ALIGN = 4096;

    private final String filename;
    private final FileChannel channel;
    private final int fd;
    private final boolean direct;
    private final ImageLock lock;
    private volatile boolean canPunch = true;

    public FileNode(String filename, boolean readOnly, boolean direct, boolean locking) throws IOException {
        super(readOnly);
        this.filename = filename;
        this.direct = direct;
        List<OpenOption> opts = new ArrayList<>();
        opts.add(StandardOpenOption.READ);
        if (!readOnly) opts.add(StandardOpenOption.WRITE);
        if (direct) opts.add(com.sun.nio.file.ExtendedOpenOption.DIRECT);
        try {
            this.channel = FileChannel.open(FileNode.path(filename), opts.toArray(OpenOption[]::new));
        } catch (NoSuchFileException e) {
            throw new BlockException(Errno.ENOENT, "Could not open '" + filename + "': No such file or directory");
        } catch (AccessDeniedException e) {
            throw new BlockException(Errno.EACCES, "Could not open '" + filename + "': Permission denied");
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "Input/output error" : e.getReason();
            throw new BlockException(Errno.EIO, "Could not open '" + filename + "': " + reason);
        }
        this.fd = Libc.fd(channel);
        try {
            this.lock = locking ? ImageLock.acquire(fd, filename, readOnly) : null;
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    @Override public String driver() { return "file"; }

    @Override public String filename() { return filename; }

    @Override public long size() throws IOException { return channel.size(); }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        checkRange(offset, dst.remaining());
        if (direct) { directRead(offset, dst); return; }
        long pos = offset;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, pos);
            if (n < 0) { // past the end of the file: reads as zeroes
                while (dst.hasRemaining()) dst.put((byte) 0);
                return;
            }
            pos += n;
        }
    }

    @Override
    protected void doWrite(long offset, ByteBuffer src, int flags) throws IOException {
        checkWritable();
        checkRange(offset, src.remaining());
        if (direct) {
            directWrite(offset, src);
        } else {
            long pos = offset;
            while (src.hasRemaining()) pos += channel.write(src, pos);
        }
        if ((flags & FUA) != 0) channel.force(false);
    }

    @Override
    protected void doWriteZeroes(long offset, long length, int flags) throws IOException {
        checkWritable();
        boolean done = false;
        if ((flags & MAY_UNMAP) != 0 && canPunch && offset + length <= channel.size()) {
            done = tryFallocate(Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, length);
        }
        if (!done) done = tryFallocate(Libc.FALLOC_FL_ZERO_RANGE, offset, length);
        if (!done) {
            if ((flags & NO_FALLBACK) != 0) throw new BlockException(Errno.ENOTSUP, "cannot zero quickly");
            ZeroWriter.fill(this, offset, length);
        }
        if ((flags & FUA) != 0) channel.force(false);
    }

    private boolean tryFallocate(int mode, long offset, long length) throws IOException {
        try {
            Libc.fallocate(fd, mode, offset, length);
            return true;
        } catch (SysException e) {
            if (e.errno() == Errno.ENOTSUP || e.errno() == Errno.EINVAL) {
                if ((mode & Libc.FALLOC_FL_PUNCH_HOLE) != 0) canPunch = false;
                return false;
            }
            throw e;
        }
    }

    @Override
    protected void doDiscard(long offset, long length) throws IOException {
        checkWritable();
        if (!canPunch) return;
        long end = Math.min(offset + length, channel.size());
        if (end > offset) tryFallocate(Libc.FALLOC_FL_PUNCH_HOLE | Libc.FALLOC_FL_KEEP_SIZE, offset, end - offset);
    }

    @Override
    public void flush() throws IOException {
        if (!isReadOnly()) channel.force(false);
    }

    @Override
    public BlockStatus blockStatus(long offset, long length) throws IOException {
        long size = channel.size();
        if (offset >= size) return new BlockStatus(length, BlockStatus.ZERO | BlockStatus.ALLOCATED, 1);
        long end = Math.min(offset + length, size);
        long data = Libc.seek(fd, offset, Libc.SEEK_DATA);
        if (data < 0 || data > offset) { // a hole up to the next data (or the end)
            long holeEnd = data < 0 ? end : Math.min(data, end);
            return new BlockStatus(holeEnd - offset, BlockStatus.ZERO | BlockStatus.ALLOCATED, 1);
        }
        long hole = Libc.seek(fd, offset, Libc.SEEK_HOLE);
        long dataEnd = hole < 0 ? end : Math.min(hole, end);
        if (dataEnd <= offset) dataEnd = end;
        return new BlockStatus(dataEnd - offset, BlockStatus.DATA | BlockStatus.ALLOCATED, 1);
    }

    @Override
    protected void doTruncate(long newSize) throws IOException {
        checkWritable();
        long old = channel.size();
        if (newSize < old) channel.truncate(newSize);
        else if (newSize > old) channel.write(ByteBuffer.allocate(1), newSize - 1);
    }

    @Override
    public FileRegion fileRegion(long offset, long length) throws IOException {
        return direct ? null : new FileRegion(channel, offset);
    }

    @Override
    public void describe(ObjectNode image) {
        try {
            image.put("actual-size", allocatedBytes());
        } catch (IOException e) {
            image.put("actual-size", 0);
        }
    }

    private long allocatedBytes() throws IOException {
        long total = 0;
        long size = channel.size();
        long pos = 0;
        while (pos < size) {
            long data = Libc.seek(fd, pos, Libc.SEEK_DATA);
            if (data < 0) break;
            long hole = Libc.seek(fd, data, Libc.SEEK_HOLE);
            if (hole < 0) hole = size;
            total += hole - data;
            pos = hole;
        }
        return total;
    }

    @Override
    public void close() throws IOException {
        channel.close(); // closing the descriptor also drops its OFD locks
    }

    private void checkWritable() throws BlockException {
        if (isReadOnly()) throw new BlockException(Errno.EPERM, "node is read-only");
    }

    // ---- O_DIRECT: transfers through buffers aligned to the device's block size ----

    /** Format drivers compute offsets from image metadata: a damaged table must fail here, cleanly. */
    private static void checkRange(long offset, long length) throws BlockException {
        if (offset < 0 || length < 0 || offset > Long.MAX_VALUE - length) {
            throw new BlockException(Errno.EINVAL, "offset " + offset + " and length " + length + " are outside any file");
        }
    }

    /** A file name from a user or an image header as a path; a NUL byte cannot name a file. */
    static Path path(String filename) throws BlockException {
        try {
            return Path.of(filename);
        } catch (java.nio.file.InvalidPathException e) {
            throw new BlockException(Errno.EINVAL, "Could not open '" + filename.replace("\0", "\\0") + "': Invalid argument");
        }
    }

    private static ByteBuffer aligned(int size) {
        return ByteBuffer.allocateDirect(size + DIRECT_ALIGN).alignedSlice(DIRECT_ALIGN).limit(size);
    }

    private void directRead(long offset, ByteBuffer dst) throws IOException {
        long start = offset & -DIRECT_ALIGN;
        long end = (offset + dst.remaining() + DIRECT_ALIGN - 1) & -DIRECT_ALIGN;
        ByteBuffer bounce = aligned((int) (end - start));
        long pos = start;
        while (bounce.hasRemaining()) {
            int n = channel.read(bounce, pos);
            if (n <= 0) break;
            pos += n;
        }
        while (bounce.hasRemaining()) bounce.put((byte) 0);
        bounce.position((int) (offset - start)).limit((int) (offset - start) + dst.remaining());
        dst.put(bounce);
    }

    private final Object rmwLock = new Object();

    private void directWrite(long offset, ByteBuffer src) throws IOException {
        long start = offset & -DIRECT_ALIGN;
        long end = (offset + src.remaining() + DIRECT_ALIGN - 1) & -DIRECT_ALIGN;
        ByteBuffer bounce = aligned((int) (end - start));
        // A partial block needs its old contents: serialise such writes so
        // two of them in the same block cannot undo each other.
        synchronized (rmwLock) {
            if (start != offset || end != offset + src.remaining()) {
                directRead(start, bounce.duplicate());
            }
            bounce.position((int) (offset - start));
            bounce.put(src);
            bounce.clear().limit((int) (end - start));
            long pos = start;
            while (bounce.hasRemaining()) pos += channel.write(bounce, pos);
        }
    }
}
