package jsd.crypto;

import java.io.IOException;
import java.nio.channels.Channel;
import java.time.Duration;

/**
 * Closes a channel if a handshake is still running when its time is up, so
 * a client that stalls mid-handshake only ties up its own (virtual) thread
 * and only for that long.
 */
final class HandshakeTimer implements AutoCloseable {
    private final Thread sleeper;
    private volatile boolean fired;
    private volatile boolean done;

    HandshakeTimer(Channel channel, Duration timeout) {
        sleeper = Thread.ofVirtual().name("tls-handshake-timer").start(() -> {
            try {
                Thread.sleep(timeout);
            } catch (InterruptedException e) {
                return; // handshake finished in time
            }
            if (done) return;
            fired = true;
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing is all we wanted
            }
        });
    }

    boolean fired() { return fired; }

    @Override
    public void close() {
        done = true;
        sleeper.interrupt();
    }
}
