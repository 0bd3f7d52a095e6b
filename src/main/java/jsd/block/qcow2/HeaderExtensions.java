package jsd.block.qcow2;

import jsd.block.BlockNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The header extensions of a qcow2 image as a list that can be changed and
 * written back: for the bitmaps extension, which comes and goes with the
 * persistent bitmaps. Unknown extensions keep their bytes and order; a
 * backing file name stored after the extensions moves when they grow.
 */
final class HeaderExtensions {
    static final int EXT_BITMAPS = 0x23852875;

    private record Ext(int type, byte[] data) {}

    private final List<Ext> list = new ArrayList<>();
    private int oldEnd; // end of what the header cluster used before (extensions, end marker, backing name)

    private HeaderExtensions() {}

    /** Reads the extensions of the header cluster as they are on disk now. */
    static HeaderExtensions read(BlockNode file, Qcow2Header header) throws IOException {
        HeaderExtensions e = new HeaderExtensions();
        int cs = header.clusterSize();
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(cs, file.size()));
        file.read(0, b);
        int pos = header.version >= 3 ? header.headerLength : 72;
        int end = header.backingFileOffset != 0 ? (int) header.backingFileOffset : b.capacity();
        while (pos + 8 <= end) {
            int type = b.getInt(pos);
            int len = b.getInt(pos + 4);
            if (type == 0) break;
            byte[] data = new byte[len];
            b.get(pos + 8, data);
            e.list.add(new Ext(type, data));
            pos += 8 + ((len + 7) & ~7);
        }
        e.oldEnd = Math.min(b.capacity(), pos + 8);
        if (header.backingFileOffset != 0) {
            e.oldEnd = Math.max(e.oldEnd, (int) (header.backingFileOffset + header.backingFileSize));
        }
        return e;
    }

    void remove(int type) { list.removeIf(x -> x.type() == type); }

    /** Replaces the extension of that type, or adds it before the end marker. */
    void put(int type, byte[] data) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i).type() == type) {
                list.set(i, new Ext(type, data));
                return;
            }
        }
        list.add(new Ext(type, data));
    }

    /**
     * Writes the extensions, the end marker, the backing file name and the
     * autoclear features in one write from byte 88 (from byte 8 when the
     * backing file name moved).
     */
    void write(BlockNode file, Qcow2Header header, long autoclear) throws IOException {
        int cs = header.clusterSize();
        int start = header.version >= 3 ? header.headerLength : 72;
        ByteBuffer area = ByteBuffer.allocate(cs);
        int pos = start;
        for (Ext x : list) {
            if (pos + 8 + x.data().length + 8 > cs) throw Qcow2Header.invalid("qcow2 header extensions do not fit in a cluster");
            area.putInt(pos, x.type()).putInt(pos + 4, x.data().length).put(pos + 8, x.data());
            pos += 8 + ((x.data().length + 7) & ~7);
        }
        pos += 8; // end marker: zeroes
        long backingOffset = header.backingFileOffset;
        if (header.backingFile != null) {
            byte[] name = header.backingFile.getBytes(StandardCharsets.UTF_8);
            if (pos + name.length > cs) throw Qcow2Header.invalid("no room for the backing file name in the header cluster");
            area.put(pos, name);
            backingOffset = pos;
            pos += name.length;
        }
        int end = Math.max(pos, oldEnd);
        // bytes 88..start (autoclear, refcount order, header length, compression type...) as they are
        ByteBuffer head = ByteBuffer.allocate(start);
        file.read(0, head);
        area.put(0, head, 0, start);
        area.putLong(Qcow2Header.OFF_AUTOCLEAR, autoclear);
        int from = Qcow2Header.OFF_AUTOCLEAR;
        if (backingOffset != header.backingFileOffset) {
            area.putLong(8, backingOffset);
            from = 8;
        }
        file.write(from, area.slice(from, end - from), 0);
        header.backingFileOffset = backingOffset;
    }
}
