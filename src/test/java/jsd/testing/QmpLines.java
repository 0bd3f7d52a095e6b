package jsd.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A QMP connection at the level of raw lines, for hostile-input and
 * comparison tests: sends arbitrary bytes and returns each line the server
 * writes as text, without parsing it (QEMU may write things like "inf"
 * that are not JSON).
 */
public final class QmpLines implements AutoCloseable {
    private final SocketChannel channel;
    private final OutputStream out;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private volatile boolean eof;
    private final String greeting;

    private QmpLines(SocketAddress address) throws IOException {
        channel = SocketChannel.open(address instanceof UnixDomainSocketAddress ? StandardProtocolFamily.UNIX
                : StandardProtocolFamily.INET);
        channel.connect(address);
        out = Channels.newOutputStream(channel);
        InputStream in = new java.io.BufferedInputStream(Channels.newInputStream(channel), 65536);
        Thread.ofVirtual().start(() -> {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            try {
                for (int c; (c = in.read()) >= 0; ) {
                    if (c == '\n') {
                        String s = line.toString(StandardCharsets.ISO_8859_1);
                        if (s.endsWith("\r")) s = s.substring(0, s.length() - 1);
                        lines.add(s);
                        line.reset();
                    } else {
                        line.write(c);
                    }
                }
            } catch (IOException e) {
                // closed
            }
            eof = true;
            lines.add("");
        });
        String g = next(10_000);
        if ("{".equals(g)) { // a pretty monitor: the greeting spans lines up to a lone "}"
            StringBuilder all = new StringBuilder(g);
            for (String l; (l = next(10_000)) != null; ) {
                all.append(l.strip());
                if (l.equals("}")) break;
            }
            g = all.toString().replace("{\"QMP\":", "{\"QMP\":");
        }
        greeting = g;
        if (greeting == null || !greeting.startsWith("{\"QMP\"")) throw new IOException("no greeting: " + greeting);
    }

    public static QmpLines connect(Path unixSocket) throws IOException { return new QmpLines(UnixDomainSocketAddress.of(unixSocket)); }

    public static QmpLines connect(String host, int port) throws IOException { return new QmpLines(new InetSocketAddress(host, port)); }

    public String greeting() { return greeting; }

    public void send(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    public void send(String text) throws IOException { send(text.getBytes(StandardCharsets.UTF_8)); }

    /** The next line, or null after timeoutMillis (or at end of stream). */
    public String next(long timeoutMillis) {
        try {
            String s = lines.poll(timeoutMillis, TimeUnit.MILLISECONDS);
            if (s != null && s.isEmpty() && eof) {
                lines.add("");
                return null;
            }
            return s;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /**
     * Sends input, then a marker command, and returns every line that came
     * back before the marker's reply (which is left out). The input must
     * leave the server's parser between messages.
     */
    public List<String> exchange(byte[] input) throws IOException {
        send(input);
        send("\n{\"execute\": \"query-version\", \"id\": \"--sync--\"}\n");
        List<String> out = new ArrayList<>();
        while (true) {
            String l = next(30_000);
            if (l == null) throw new IOException("no reply to the marker (" + (eof ? "connection closed" : "timeout") + "), got " + out);
            if (l.contains("\"id\": \"--sync--\"")) return out;
            out.add(l);
        }
    }

    public boolean isEof() { return eof; }

    @Override
    public void close() throws IOException { channel.close(); }
}
