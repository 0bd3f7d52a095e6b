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
        java.time.Instant now = java.time.Instant.now(); // wall-clock time with microseconds, as QEMU's g_get_real_time
        ObjectNode msg = JsonNodeFactory.instance.objectNode();
        ObjectNode ts = msg.putObject("timestamp");
        ts.put("seconds", now.getEpochSecond());
        ts.put("microseconds", now.getNano() / 1000);
        msg.put("event", event);
        if (data != null) msg.set("data", data);
        for (QmpSession s : sessions) s.sendEvent(msg);
    }
}
