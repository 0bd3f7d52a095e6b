package jsd.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A QMP client for tests, speaking to a real monitor socket: it reads the
 * greeting, sends raw text or commands, and separates replies from events.
 */
public final class QmpClient implements AutoCloseable {
    public static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final OutputStream out;
    private final BlockingQueue<JsonNode> incoming = new LinkedBlockingQueue<>();
    private final Deque<JsonNode> events = new ArrayDeque<>();
    private final JsonNode greeting;
    private final Thread reader;

    private QmpClient(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        out = Channels.newOutputStream(channel);
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        reader = Thread.ofVirtual().start(() -> {
            try {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.isBlank()) incoming.add(JSON.readTree(line));
                }
            } catch (IOException e) {
                // connection closed
            }
        });
        greeting = next(Duration.ofSeconds(10));
        if (greeting == null || !greeting.has("QMP")) throw new IOException("no QMP greeting: " + greeting);
    }

    /** Connects and reads the greeting, without negotiating. */
    public static QmpClient connectRaw(Path socket) throws IOException { return new QmpClient(socket); }

    /** Connects, reads the greeting and runs qmp_capabilities. */
    public static QmpClient connect(Path socket) throws IOException {
        QmpClient c = new QmpClient(socket);
        JsonNode r = c.execute("qmp_capabilities", null);
        if (!r.has("return")) throw new IOException("negotiation failed: " + r);
        return c;
    }

    public JsonNode greeting() { return greeting; }

    private JsonNode next(Duration timeout) {
        try {
            return incoming.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** Sends raw bytes (for malformed input tests). */
    public void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    public void sendRaw(String text) throws IOException { sendRaw(text.getBytes(StandardCharsets.UTF_8)); }

    /** The next reply (return or error); events that come first are kept for {@link #event}. */
    public JsonNode reply() throws IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            JsonNode n = next(Duration.ofMillis(200));
            if (n == null) continue;
            if (n.has("event")) events.add(n);
            else return n;
        }
        throw new IOException("no reply within 30 s");
    }

    /** Runs a command; returns the whole reply ({"return": ...} or {"error": ...}). */
    public JsonNode execute(String command, Object arguments) throws IOException {
        ObjectNode msg = JSON.createObjectNode();
        msg.put("execute", command);
        if (arguments != null) msg.set("arguments", JSON.valueToTree(arguments));
        sendRaw(JSON.writeValueAsString(msg) + "\n");
        return reply();
    }

    /** Runs a command that must succeed; returns its "return" value. */
    public JsonNode ok(String command, Object arguments) throws IOException {
        JsonNode r = execute(command, arguments);
        if (!r.has("return")) throw new AssertionError(command + " failed: " + r);
        return r.get("return");
    }

    /** Runs a command that must fail; returns its "error" object. */
    public JsonNode error(String command, Object arguments) throws IOException {
        JsonNode r = execute(command, arguments);
        if (!r.has("error")) throw new AssertionError(command + " should have failed: " + r);
        return r.get("error");
    }

    /** Waits for the named event (already received or arriving within the timeout). */
    public JsonNode event(String name, Duration timeout) {
        for (JsonNode e : events) {
            if (e.get("event").asText().equals(name)) {
                events.remove(e);
                return e;
            }
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode n = next(Duration.ofMillis(100));
            if (n == null) continue;
            if (n.has("event") && n.get("event").asText().equals(name)) return n;
            if (n.has("event")) events.add(n);
            else throw new AssertionError("unexpected reply while waiting for " + name + ": " + n);
        }
        return null;
    }

    /**
     * Waits for the named event and checks that it is well formed as QMP
     * says: {"event": name, "data": object (optional), "timestamp":
     * {"seconds", "microseconds"}} with a timestamp of now (within a minute).
     */
    public JsonNode expectEvent(String name, Duration timeout) {
        JsonNode e = event(name, timeout);
        if (e == null) throw new AssertionError("no " + name + " event within " + timeout);
        assertWellFormedEvent(e);
        return e;
    }

    public static void assertWellFormedEvent(JsonNode e) {
        if (!e.path("event").isTextual()) throw new AssertionError("event name missing: " + e);
        if (e.has("data") && !e.get("data").isObject()) throw new AssertionError("event data not an object: " + e);
        JsonNode ts = e.get("timestamp");
        if (ts == null || !ts.path("seconds").isIntegralNumber() || !ts.path("microseconds").isIntegralNumber()) {
            throw new AssertionError("bad timestamp: " + e);
        }
        long us = ts.get("microseconds").asLong();
        if (us < 0 || us >= 1_000_000) throw new AssertionError("microseconds out of range: " + e);
        long skew = Math.abs(System.currentTimeMillis() / 1000 - ts.get("seconds").asLong());
        if (skew > 60) throw new AssertionError("timestamp not now: " + e);
        java.util.Iterator<String> keys = e.fieldNames();
        while (keys.hasNext()) {
            String k = keys.next();
            if (!k.equals("event") && !k.equals("data") && !k.equals("timestamp")) throw new AssertionError("extra member " + k + ": " + e);
        }
    }

    /** Parses a JSON text (for building arguments in tests). */
    public static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public boolean isOpen() { return reader.isAlive(); }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
