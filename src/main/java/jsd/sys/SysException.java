package jsd.sys;

import java.io.IOException;

/** A failed system call, carrying its errno so protocols can report it faithfully. */
public class SysException extends IOException {
    private final int errno;

    public SysException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public int errno() { return errno; }
}
