package jsd.export.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;

/** A plain (unencrypted) TCP or unix socket connection in blocking mode. */
final class SocketConnection implements Connection {
    private final SocketChannel channel;
    private final String description;

    SocketConnection(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(true);
        if (!(channel.getRemoteAddress() instanceof java.net.UnixDomainSocketAddress)) {
            // replies are batched by the server itself; Nagle would only add latency
            channel.setOption(java.net.StandardSocketOptions.TCP_NODELAY, true);
        }
        String remote;
        try {
            remote = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            remote = "?";
        }
        this.description = remote;
    }

    SocketChannel channel() { return channel; }

    @Override
    public int read(ByteBuffer dst) throws IOException { return channel.read(dst); }

    @Override
    public void write(ByteBuffer... srcs) throws IOException {
        if (srcs.length == 1) {
            ByteBuffer b = srcs[0];
            while (b.hasRemaining()) channel.write(b);
            return;
        }
        int first = 0;
        while (first < srcs.length) {
            channel.write(srcs, first, srcs.length - first);
            while (first < srcs.length && !srcs[first].hasRemaining()) first++;
        }
    }

    @Override
    public long transferFrom(FileChannel file, long position, long length) throws IOException {
        long done = 0;
        while (done < length) {
            long n = file.transferTo(position + done, length - done, channel);
            if (n <= 0) {
                if (position + done >= file.size()) break; // the file ended early
                continue;
            }
            done += n;
        }
        return done;
    }

    @Override
    public void close() throws IOException { channel.close(); }

    @Override
    public boolean isOpen() { return channel.isOpen(); }

    @Override
    public String describe() { return description; }
}
