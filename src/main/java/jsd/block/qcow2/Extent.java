package jsd.block.qcow2;

/**
 * A run of guest bytes with one kind of mapping. host is the host offset of
 * the first byte for DATA, the raw L2 entry for COMPRESSED, unused otherwise.
 */
record Extent(int kind, long host, long length) {
    static final int DATA = 0;
    static final int ZERO = 1;
    static final int UNALLOCATED = 2;
    static final int COMPRESSED = 3;
}
