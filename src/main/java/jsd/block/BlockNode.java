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
    public abstract void write(long offset, ByteBuffer src, int flags) throws IOException;

    /** Makes the range read as zeroes. flags: {@link #FUA}, {@link #MAY_UNMAP}, {@link #NO_FALLBACK}. */
    public abstract void writeZeroes(long offset, long length, int flags) throws IOException;

    /** Says the range is no longer needed; it may keep its data or read as anything afterwards. */
    public abstract void discard(long offset, long length) throws IOException;

    /** Everything written so far reaches stable storage. */
    public abstract void flush() throws IOException;

    /** The status of the longest uniform range starting at offset, at most length bytes long. */
    public abstract BlockStatus blockStatus(long offset, long length) throws IOException;

    /** Nodes this one reads from (file, backing), for the graph's in-use checks. */
    public List<BlockNode> children() { return List.of(); }

    /** The backing node of a copy-on-write format, or null. */
    public BlockNode backing() { return null; }

    /** Changes the size, for growable exports. */
    public void truncate(long newSize) throws IOException {
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
