package jsd.export.fuse;

import jsd.sys.DeviceFile;
import jsd.sys.WakeupFd;
import jsd.sys.SysException;

import java.nio.ByteBuffer;

/**
 * Where a session's messages come from and its replies go: /dev/fuse in
 * the daemon ({@link #device}), a scripted peer in the tests that feed the
 * session malformed requests.
 */
interface FuseChannel {
    /** Blocks until a message can be read; false once {@link #wake} was called. */
    boolean awaitReadable() throws SysException;

    /** One message into dst: its length, {@link DeviceFile#AGAIN} or {@link DeviceFile#GONE}. */
    int read(ByteBuffer dst) throws SysException;

    /** One reply, whole. */
    void write(ByteBuffer src) throws SysException;

    /** Makes {@link #awaitReadable} return false, now and from then on. */
    void wake();

    /** Closes the channel (after the last reply). */
    void close();

    static FuseChannel device(DeviceFile device, WakeupFd wakeup) {
        return new FuseChannel() {
            @Override public boolean awaitReadable() throws SysException { return device.awaitReadable(wakeup); }

            @Override public int read(ByteBuffer dst) throws SysException { return device.read(dst); }

            @Override public void write(ByteBuffer src) throws SysException { device.write(src); }

            @Override public void wake() { wakeup.signal(); }

            @Override public void close() {
                device.close();
                wakeup.close();
            }
        };
    }
}
