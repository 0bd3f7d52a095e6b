package jsd.block.qcow2;

import jsd.block.BlockException;
import jsd.sys.Errno;

/** Metadata that cannot be right (unaligned or impossible offsets, refcount underflow). */
final class Qcow2Corruption extends BlockException {
    Qcow2Corruption(String message) {
        super(Errno.EIO, "qcow2: " + message);
    }
}
