package jsd.block;

/**
 * The status of the range starting at a given offset: its length (at least
 * one byte, at most what was asked) and what it holds. depth is where the
 * data comes from in a backing chain: 0 for unallocated in the whole chain,
 * 1 for this node, 2 for its backing file, and so on (qemu:allocation-depth).
 */
public record BlockStatus(long length, int flags, int depth) {
    /** The range reads as data (not known to be a hole). */
    public static final int DATA = 1;
    /** The range reads as zeroes. */
    public static final int ZERO = 2;
    /** The range is allocated in this node itself (not inherited from a backing node). */
    public static final int ALLOCATED = 4;

    public boolean isData() { return (flags & DATA) != 0; }

    public boolean isZero() { return (flags & ZERO) != 0; }

    public boolean isAllocated() { return (flags & ALLOCATED) != 0; }
}
