package jsd.block;

import jsd.sys.SysException;

/** An I/O error of the block layer, with the errno a protocol should report. */
public class BlockException extends SysException {
    public BlockException(int errno, String message) {
        super(errno, message);
    }
}
