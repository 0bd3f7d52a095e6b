package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashMap;
import java.util.Map;

/** The handlers of QMP commands, by name. Arguments arrive checked against the schema. */
public final class QmpCommands {
    @FunctionalInterface
    public interface Handler {
        /** Returns the command's "return" value (an empty object for commands returning nothing). */
        JsonNode run(ObjectNode args) throws Exception;
    }

    private final Map<String, Handler> handlers = new LinkedHashMap<>();

    public void register(String name, Handler h) { handlers.put(name, h); }

    public Handler get(String name) { return handlers.get(name); }

    public Map<String, Handler> all() { return handlers; }
}
