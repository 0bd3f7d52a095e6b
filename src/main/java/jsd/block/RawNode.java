package jsd.block;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.sys.Errno;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/** The "raw" format: a window [offset, offset+size) of its file child, passed through. */
public final class RawNode extends BlockNode {
    private final BlockNode file;
    private final long offset;
    private final long fixedSize; // -1: to the end of the child

    public RawNode(BlockNode file, long offset, long size, boolean readOnly) throws IOException {
        super(readOnly);
        this.file = file;
        this.offset = offset;
        this.fixedSize = size;
        long childSize = file.size();
        // QEMU's checks, in its order and words (offset and size go through its size parser first)
        if (offset < 0) throw new BlockException(Errno.EINVAL, "Parameter 'offset' expects a non-negative number below 2^64");
        if (size < -1) throw new BlockException(Errno.EINVAL, "Parameter 'size' expects a non-negative number below 2^64");
        if (offset > childSize) {
            throw new BlockException(Errno.EINVAL, "Offset (" + offset + ") cannot be greater than size of the containing file ("
                    + childSize + ")");
        }
        if (size >= 0 && childSize - offset < size) {
            throw new BlockException(Errno.EINVAL, "The sum of offset (" + offset + ") and size (" + size
                    + ") has to be smaller or equal to the  actual size of the containing file (" + childSize + ")");
        }
        if (size >= 0 && size % 512 != 0) throw new BlockException(Errno.EINVAL, "Specified size is not multiple of 512");
    }

    public BlockNode file() { return file; }

    @Override public String driver() { return "raw"; }

    @Override public String filename() { return file.filename(); }

    @Override
    public long size() throws IOException {
        return fixedSize >= 0 ? fixedSize : file.size() - offset;
    }

    @Override public void read(long off, ByteBuffer dst) throws IOException { file.read(offset + off, dst); }

    @Override
    protected void doWrite(long off, ByteBuffer src, int flags) throws IOException {
        if (isReadOnly()) throw new BlockException(Errno.EPERM, "node is read-only");
        file.write(offset + off, src, flags);
    }

    @Override
    protected void doWriteZeroes(long off, long length, int flags) throws IOException {
        if (isReadOnly()) throw new BlockException(Errno.EPERM, "node is read-only");
        file.writeZeroes(offset + off, length, flags);
    }

    @Override
    protected void doDiscard(long off, long length) throws IOException {
        if (isReadOnly()) throw new BlockException(Errno.EPERM, "node is read-only");
        file.discard(offset + off, length);
    }

    @Override public void flush() throws IOException { file.flush(); }

    @Override
    public BlockStatus blockStatus(long off, long length) throws IOException {
        BlockStatus s = file.blockStatus(offset + off, length);
        return new BlockStatus(s.length(), s.flags() | BlockStatus.ALLOCATED, 1);
    }

    @Override
    protected void doTruncate(long newSize) throws IOException {
        if (fixedSize >= 0 || offset != 0) throw new BlockException(Errno.ENOTSUP, "cannot resize a raw node with offset or size");
        file.truncate(newSize);
    }

    @Override
    public FileRegion fileRegion(long off, long length) throws IOException {
        FileRegion r = file.fileRegion(offset + off, length);
        return r;
    }

    @Override public List<BlockNode> children() { return List.of(file); }

    @Override public void describe(ObjectNode image) { file.describe(image); }
}
