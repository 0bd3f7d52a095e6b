package jsd.block;

import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.List;

/**
 * A node of the block graph: a format or protocol driver presenting a flat
 * array of bytes. Every I/O method may be called from many threads at once
 * (each NBD request runs on its own virtual thread) and blocks until done.
 * Callers check ranges against {@link #size()} before calling.
 */
public abstract class BlockNode {
    /** Write flag: the data is on stable storage when the call returns. */
    public static final int FUA = 1;
    /** Write-zeroes flag: the range may be deallocated (a hole) as long as it reads as zeroes. */
    public static final int MAY_UNMAP = 2;
    /** Write-zeroes flag: fail with ENOTSUP rather than write zeroes slowly. */
    public static final int NO_FALLBACK = 4;

    private String nodeName;
    private final DirtyBitmaps dirtyBitmaps = new DirtyBitmaps();
    private final boolean readOnly;

    protected BlockNode(boolean readOnly) {
        this.readOnly = readOnly;
    }

    public final String nodeName() { return nodeName; }

    final void setNodeName(String name) { this.nodeName = name; }

    public final boolean isReadOnly() { return readOnly; }

    /** The driver name query-named-block-nodes reports ("file", "raw", "qcow2"...). */
    public abstract String driver();

    /** The name the image is known by, e.g. the file name (query-named-block-nodes' "file"). */
    public abstract String filename();

    public abstract long size() throws IOException;

    /** Reads dst.remaining() bytes at offset into dst. */
    public abstract void read(long offset, ByteBuffer dst) throws IOException;

    /** Writes src.remaining() bytes at offset. flags: {@link #FUA}. */
    public final void write(long offset, ByteBuffer src, int flags) throws IOException {
        int length = src.remaining();
        try {
            doWrite(offset, src, flags);
        } finally {
            dirtyBitmaps.mark(offset, length); // even a failed write may have changed the range
        }
    }

    /** Makes the range read as zeroes. flags: {@link #FUA}, {@link #MAY_UNMAP}, {@link #NO_FALLBACK}. */
    public final void writeZeroes(long offset, long length, int flags) throws IOException {
        try {
            doWriteZeroes(offset, length, flags);
        } finally {
            dirtyBitmaps.mark(offset, length);
        }
    }

    /** Says the range is no longer needed; it may keep its data or read as anything afterwards. */
    public final void discard(long offset, long length) throws IOException {
        try {
            doDiscard(offset, length);
        } finally {
            dirtyBitmaps.markDiscard(offset, length);
        }
    }

    // The drivers' side of the three calls above, which record the change in the node's dirty bitmaps.
    protected abstract void doWrite(long offset, ByteBuffer src, int flags) throws IOException;

    protected abstract void doWriteZeroes(long offset, long length, int flags) throws IOException;

    protected abstract void doDiscard(long offset, long length) throws IOException;

    /** The node's dirty bitmaps (block-dirty-bitmap-*). */
    public final DirtyBitmaps dirtyBitmaps() { return dirtyBitmaps; }

    /** Everything written so far reaches stable storage. */
    public abstract void flush() throws IOException;

    /** The status of the longest uniform range starting at offset, at most length bytes long. */
    public abstract BlockStatus blockStatus(long offset, long length) throws IOException;

    /** Nodes this one reads from (file, backing), for the graph's in-use checks. */
    public List<BlockNode> children() { return List.of(); }

    /** The backing node of a copy-on-write format, or null. */
    public BlockNode backing() { return null; }

    /** Changes the size, for growable exports; dirty bitmaps follow (new space is clean). */
    public final void truncate(long newSize) throws IOException {
        doTruncate(newSize);
        dirtyBitmaps.resize(size());
    }

    protected void doTruncate(long newSize) throws IOException {
        throw new BlockException(Errno.ENOTSUP, driver() + " cannot be resized");
    }

    /**
     * Where the bytes of [offset, offset+length) lie verbatim in a host
     * file, for zero-copy replies (sendfile), or null when they do not.
     */
    public FileRegion fileRegion(long offset, long length) throws IOException { return null; }

    public record FileRegion(FileChannel channel, long position) {}

    /** Releases this node's own resources (not its children's). */
    public void close() throws IOException { }

    /** Extra facts for query-named-block-nodes' "image" (cluster-size, backing file...). */
    public void describe(com.fasterxml.jackson.databind.node.ObjectNode image) { }
}
