package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * One client's conversation with a monitor: greeting, capability
 * negotiation, then commands and events until the client leaves. Runs on
 * its own virtual thread; replies and events share one writer lock.
 */
public final class QmpSession implements Runnable {
    private final InputStream in;
    private final OutputStream out;
    private final Closeable connection;
    private final QmpDispatcher dispatcher;
    private final boolean pretty;
    private volatile boolean negotiated;
    private boolean oob;

    public QmpSession(InputStream in, OutputStream out, Closeable connection, QmpDispatcher dispatcher, boolean pretty) {
        this.in = in;
        this.out = out;
        this.connection = connection;
        this.dispatcher = dispatcher;
        this.pretty = pretty;
    }

    @Override
    public void run() {
        try {
            send(dispatcher.greeting());
            JsonLexer lexer = new JsonLexer(this::message);
            byte[] buf = new byte[65536];
            for (int n; !dispatcher.quitRequested() && (n = in.read(buf)) > 0; ) {
                lexer.feed(buf, 0, n);
            }
        } catch (IOException | UncheckedIOException e) {
            // the client went away
        } finally {
            dispatcher.events().detach(this);
            try {
                connection.close();
            } catch (IOException ignored) {
                // nothing more to tell this client
            }
            dispatcher.afterSession();
        }
    }

    /** One message from the lexer; after quit, the rest of the input is ignored (as QEMU does). */
    private void message(JsonNode msg, String parseError) {
        if (dispatcher.quitRequested()) return;
        JsonNode reply = handle(msg, parseError);
        try {
            send(reply);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private JsonNode handle(JsonNode msg, String parseError) {
        if (parseError != null) return error(null, QapiError.generic("%s", parseError));
        if (!msg.isObject()) return error(null, QapiError.generic("QMP input must be a JSON object"));
        JsonNode id = msg.get("id");
        try {
            return reply(dispatcher.execute((ObjectNode) msg, this), id);
        } catch (QapiError e) {
            return error(id, e);
        }
    }

    boolean negotiated() { return negotiated; }

    void setNegotiated(boolean oobEnabled) {
        negotiated = true;
        oob = oobEnabled;
        dispatcher.events().attach(this);
    }

    boolean oobEnabled() { return oob; }

    private static ObjectNode reply(JsonNode ret, JsonNode id) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        r.set("return", ret);
        if (id != null) r.set("id", id);
        return r;
    }

    private static ObjectNode error(JsonNode id, QapiError e) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        if (id != null) r.set("id", id);
        ObjectNode err = r.putObject("error");
        err.put("class", e.errorClass().name());
        err.put("desc", e.desc());
        return r;
    }

    void sendEvent(JsonNode event) {
        try {
            send(event);
        } catch (IOException e) {
            // the session's reader notices the broken connection and ends it
        }
    }

    private void send(JsonNode msg) throws IOException {
        // QEMU's monitor turns every line feed into CR LF, inside pretty replies too
        String json = QmpText.write(msg, pretty);
        if (pretty) json = json.replace("\n", "\r\n");
        byte[] text = (json + "\r\n").getBytes(StandardCharsets.US_ASCII);
        synchronized (out) {
            out.write(text);
            out.flush();
        }
    }
}
