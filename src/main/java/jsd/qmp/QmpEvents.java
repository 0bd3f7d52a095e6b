package jsd.qmp;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;

/** Fans events out to every monitor that has finished capability negotiation. */
public final class QmpEvents {
    private final Set<QmpSession> sessions = new CopyOnWriteArraySet<>();

    void attach(QmpSession s) { sessions.add(s); }

    void detach(QmpSession s) { sessions.remove(s); }

    public void emit(String event, ObjectNode data) {
        long micros = System.currentTimeMillis() * 1000 + (System.nanoTime() / 1000) % 1000;
        ObjectNode msg = JsonNodeFactory.instance.objectNode();
        ObjectNode ts = msg.putObject("timestamp");
        ts.put("seconds", micros / 1_000_000);
        ts.put("microseconds", micros % 1_000_000);
        msg.put("event", event);
        if (data != null) msg.set("data", data);
        for (QmpSession s : sessions) s.sendEvent(msg);
    }
}
