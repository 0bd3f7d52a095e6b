package jsd.qmp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
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
            JsonStreamer streamer = new JsonStreamer(in);
            for (JsonStreamer.Piece piece; (piece = streamer.next()) != null; ) {
                JsonNode reply = handle(piece);
                if (reply != null) send(reply);
                if (dispatcher.quitRequested()) break;
            }
        } catch (IOException e) {
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

    private JsonNode handle(JsonStreamer.Piece piece) {
        if (piece.error() != null) return error(null, new QapiError(QapiError.ErrorClass.GenericError, piece.error()));
        JsonNode msg;
        try {
            msg = QmpJson.parse(piece.json());
        } catch (JsonProcessingException e) {
            return error(null, QapiError.generic("JSON parse error, %s", describe(e)));
        } catch (IOException e) {
            return error(null, QapiError.generic("JSON parse error, %s", e.getMessage()));
        }
        if (!msg.isObject()) return error(null, QapiError.generic("QMP input must be a JSON object"));
        JsonNode id = msg.get("id");
        try {
            return reply(dispatcher.execute((ObjectNode) msg, this), id);
        } catch (QapiError e) {
            return error(id, e);
        }
    }

    private static String describe(JsonProcessingException e) {
        String m = e.getOriginalMessage();
        if (m == null) return "invalid JSON";
        if (m.contains("Unrecognized token")) {
            int a = m.indexOf('\'');
            int b = m.indexOf('\'', a + 1);
            if (a >= 0 && b > a) return "invalid keyword '" + m.substring(a + 1, b) + "'";
        }
        if (m.contains("Invalid UTF-8")) return "invalid UTF-8 sequence in string";
        if (m.contains("Duplicate field")) return "duplicate key";
        return m.split("\n")[0];
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
        byte[] text = (QmpJson.write(msg, pretty) + "\r\n").getBytes(StandardCharsets.UTF_8);
        synchronized (out) {
            out.write(text);
            out.flush();
        }
    }
}
