package jsd.block;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A named dirty bitmap of a node: one bit per granularity-sized chunk of
 * the node, set when a write, write-zeroes or (recorded) discard touches
 * the chunk while the bitmap is enabled.
 *
 * The write path only ever sets bits, lock-free (an atomic OR on one word
 * for a typical request), so that concurrent requests never wait for one
 * another. The rarer changes that replace the word array (a resize) keep
 * setters correct by re-checking the array after they set their bits; the
 * monitor's changes (clear, merge, enable...) run under the daemon lock.
 */
public final class DirtyBitmap {
    /** QEMU's limits: a granularity is a power of two in [512 B, 2 GiB]. */
    public static final long MIN_GRANULARITY = 512;
    public static final long MAX_GRANULARITY = 1L << 31;
    /** Bitmap names are at most this many bytes (QEMU's BDRV_BITMAP_MAX_NAME_SIZE). */
    public static final int MAX_NAME_LENGTH = 1023;

    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    /** The bits and the node size they cover, replaced together on resize. */
    private record Bits(long[] words, long size) {}

    private final String name;
    private final int shift; // log2(granularity)
    private volatile Bits bits;
    private volatile boolean enabled;
    private volatile boolean busy;
    private volatile boolean persistent;
    private volatile boolean inconsistent;
    private volatile boolean readOnly;

    public DirtyBitmap(String name, long granularity, long size, boolean enabled) {
        if (Long.bitCount(granularity) != 1 || granularity < MIN_GRANULARITY || granularity > MAX_GRANULARITY) {
            throw new IllegalArgumentException("bad granularity " + granularity);
        }
        this.name = name;
        this.shift = Long.numberOfTrailingZeros(granularity);
        this.bits = new Bits(new long[wordsFor(size)], size);
        this.enabled = enabled;
    }

    private long chunks(long size) { return (size + (1L << shift) - 1) >>> shift; }

    private int wordsFor(long size) { return Math.toIntExact((chunks(size) + 63) >>> 6); }

    public String name() { return name; }

    public long granularity() { return 1L << shift; }

    public long size() { return bits.size(); }

    public boolean enabled() { return enabled; }

    public void setEnabled(boolean on) { enabled = on; }

    /** In use by an operation (an NBD export): not to be changed or removed. */
    public boolean busy() { return busy; }

    public void setBusy(boolean b) { busy = b; }

    public boolean persistent() { return persistent; }

    public void setPersistent(boolean p) { persistent = p; }

    /** A persistent bitmap that was not stored properly (in use when its image was last closed). */
    public boolean inconsistent() { return inconsistent; }

    public void setInconsistent(boolean i) { inconsistent = i; }

    /** Loaded from an image opened read-only: it cannot be changed. */
    public boolean readOnly() { return readOnly; }

    public void setReadOnly(boolean r) { readOnly = r; }

    // ---- the write path ----

    /** Records a change of [offset, offset+length) if the bitmap is enabled. */
    public void mark(long offset, long length) {
        if (enabled && length > 0) set(offset, length);
    }

    /** Sets the bits of every chunk that [offset, offset+length) touches (within the node). */
    public void set(long offset, long length) {
        Bits b = bits;
        while (true) {
            setIn(b, offset, length);
            Bits now = bits;
            if (now == b) return;
            b = now; // resized meanwhile: our bits may have missed the copy, set them again
        }
    }

    private void setIn(Bits b, long offset, long length) {
        long end = Math.min(offset + length, b.size());
        if (offset >= end || offset < 0) return;
        long first = offset >>> shift;
        long last = (end - 1) >>> shift;
        long[] w = b.words();
        int fw = (int) (first >>> 6), lw = (int) (last >>> 6);
        long fm = -1L << (first & 63);
        long lm = -1L >>> (63 - (last & 63));
        if (fw == lw) {
            if (((long) WORDS.getOpaque(w, fw) & (fm & lm)) != (fm & lm)) WORDS.getAndBitwiseOr(w, fw, fm & lm);
            return;
        }
        WORDS.getAndBitwiseOr(w, fw, fm);
        for (int i = fw + 1; i < lw; i++) WORDS.setRelease(w, i, -1L);
        WORDS.getAndBitwiseOr(w, lw, lm);
    }

    public void clear() {
        long[] w = bits.words();
        for (int i = 0; i < w.length; i++) WORDS.setRelease(w, i, 0L);
    }

    // ---- queries ----

    /** The first byte offset in [from, end) whose chunk is dirty, or -1. */
    public long nextDirty(long from, long end) {
        Bits b = bits;
        end = Math.min(end, b.size());
        if (from >= end) return -1;
        long c = find(b.words(), from >>> shift, chunks(end), true);
        if (c < 0) return -1;
        return Math.max(from, c << shift);
    }

    /** The first byte offset in [from, end) whose chunk is clean, or end. */
    public long nextClean(long from, long end) {
        Bits b = bits;
        long lim = Math.min(end, b.size());
        if (from >= lim) return end;
        long c = find(b.words(), from >>> shift, chunks(lim), false);
        if (c < 0) return lim == b.size() ? end : lim;
        return Math.min(end, Math.max(from, c << shift));
    }

    /** The first chunk in [from, to) whose bit equals dirty, or -1. */
    private static long find(long[] w, long from, long to, boolean dirty) {
        long c = from;
        while (c < to) {
            int i = (int) (c >>> 6);
            long word = (long) WORDS.getAcquire(w, i);
            if (!dirty) word = ~word;
            word &= -1L << (c & 63);
            if (word != 0) {
                long hit = (((long) i) << 6) + Long.numberOfTrailingZeros(word);
                return hit < to ? hit : -1;
            }
            c = ((long) i + 1) << 6;
        }
        return -1;
    }

    /** Dirty bytes as QEMU counts them: dirty chunks times the granularity. */
    public long count() {
        long n = 0;
        long[] w = bits.words();
        for (int i = 0; i < w.length; i++) n += Long.bitCount((long) WORDS.getAcquire(w, i));
        return n << shift;
    }

    /** The SHA-256 of the bits as 64-bit little-endian words, as x-debug-block-dirty-bitmap-sha256 reports it. */
    public String sha256() {
        long[] w = bits.words();
        ByteBuffer buf = ByteBuffer.allocate(w.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < w.length; i++) buf.putLong((long) WORDS.getAcquire(w, i));
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(buf.array()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A copy of the bits, one per chunk, bit i of word j = chunk 64j+i (for storing in an image). */
    public long[] snapshot() {
        long[] w = bits.words();
        long[] out = new long[w.length];
        for (int i = 0; i < w.length; i++) out[i] = (long) WORDS.getAcquire(w, i);
        return out;
    }

    /** The number of 64-bit words the bits take (the last one may be partly used). */
    public int wordCount() { return bits.words().length; }

    /** Copies up to n words from word index from into dst (fewer at the end); returns how many. */
    public int copyWords(int from, long[] dst, int n) {
        long[] w = bits.words();
        int k = Math.max(0, Math.min(n, w.length - from));
        for (int i = 0; i < k; i++) dst[i] = (long) WORDS.getAcquire(w, from + i);
        return k;
    }

    /** Sets every chunk whose bit is set in src[0..n), src[0] being word index at (the format of {@link #snapshot()}). */
    public void orWords(int at, long[] src, int n) {
        long[] w = bits.words();
        for (int i = 0; i < n && at + i < w.length; i++) {
            if (src[i] != 0) WORDS.getAndBitwiseOr(w, at + i, src[i]);
        }
    }

    // ---- changes of the whole bitmap ----

    /** Adds the dirty chunks of src (same size, any granularity) to this bitmap. */
    public void merge(DirtyBitmap src) {
        if (src.shift == shift) {
            long[] s = src.bits.words();
            long[] w = bits.words();
            for (int i = 0; i < Math.min(s.length, w.length); i++) {
                long v = (long) WORDS.getAcquire(s, i);
                if (v != 0) WORDS.getAndBitwiseOr(w, i, v);
            }
            return;
        }
        long size = src.size();
        long pos = 0;
        while (pos < size) {
            long d = src.nextDirty(pos, size);
            if (d < 0) break;
            long c = src.nextClean(d, size);
            set(d, c - d);
            pos = c;
        }
    }

    /** Follows a change of the node's size: new space is clean, cut space is forgotten. */
    public synchronized void resize(long newSize) {
        Bits old = bits;
        if (old.size() == newSize) return;
        long[] w = new long[wordsFor(newSize)];
        Bits fresh = new Bits(w, newSize);
        copyInto(old, fresh);
        bits = fresh;
        copyInto(old, fresh); // what setters put into the old array while we copied
    }

    private void copyInto(Bits from, Bits to) {
        long[] s = from.words(), d = to.words();
        long keep = Math.min(chunks(from.size()), chunks(to.size()));
        int full = (int) (keep >>> 6);
        for (int i = 0; i < full; i++) WORDS.getAndBitwiseOr(d, i, (long) WORDS.getAcquire(s, i));
        if ((keep & 63) != 0) {
            WORDS.getAndBitwiseOr(d, full, (long) WORDS.getAcquire(s, full) & ~(-1L << (keep & 63)));
        }
    }
}
