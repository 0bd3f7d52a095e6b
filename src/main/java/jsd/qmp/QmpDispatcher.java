package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.InputVisitor;
import jsd.qapi.QapiError;
import jsd.qapi.Schema;

import java.util.Iterator;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Turns a QMP request into a handler call: checks the envelope the way
 * QEMU does, enforces capability negotiation, checks the arguments against
 * the command's schema type, and runs the handler under the daemon's lock
 * (commands from all monitors run one at a time, as under QEMU's BQL).
 */
public final class QmpDispatcher {
    private final QmpCommands commands;
    private final QmpEvents events;
    private final ReentrantLock lock;
    private final ObjectNode version;
    private volatile boolean quit;
    private Runnable onQuit = () -> { };

    public QmpDispatcher(QmpCommands commands, QmpEvents events, ReentrantLock lock, ObjectNode version) {
        this.commands = commands;
        this.events = events;
        this.lock = lock;
        this.version = version;
    }

    QmpEvents events() { return events; }

    /** What to do once the reply to "quit" has been sent. */
    public void onQuit(Runnable r) { onQuit = r; }

    public void requestQuit() { quit = true; }

    boolean quitRequested() { return quit; }

    void afterSession() {
        if (quit) onQuit.run();
    }

    JsonNode greeting() {
        ObjectNode g = JsonNodeFactory.instance.objectNode();
        ObjectNode qmp = g.putObject("QMP");
        qmp.set("version", version);
        qmp.putArray("capabilities").add("oob");
        return g;
    }

    JsonNode execute(ObjectNode msg, QmpSession session) {
        String name = null;
        boolean oobRequest = false;
        JsonNode args = null;
        for (Iterator<String> it = msg.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            JsonNode v = msg.get(key);
            switch (key) {
                case "execute", "exec-oob" -> {
                    if (key.equals("exec-oob") && !session.oobEnabled()) {
                        throw QapiError.generic("QMP input member 'exec-oob' is unexpected");
                    }
                    if (!v.isTextual()) throw QapiError.generic("QMP input member '%s' must be a string", key);
                    name = v.asText();
                    oobRequest = key.equals("exec-oob");
                }
                case "arguments" -> {
                    if (!v.isObject()) throw QapiError.generic("QMP input member 'arguments' must be an object");
                    args = v;
                }
                case "id" -> { }
                default -> throw QapiError.generic("QMP input member '%s' is unexpected", key);
            }
        }
        if (name == null) throw QapiError.generic("QMP input lacks member 'execute'");
        if (!session.negotiated() && !name.equals("qmp_capabilities")) {
            throw new QapiError(QapiError.ErrorClass.CommandNotFound,
                    "Expecting capabilities negotiation with 'qmp_capabilities'");
        }
        Schema.Command cmd = Schema.get().command(name);
        QmpCommands.Handler handler = commands.get(name);
        if (cmd == null || handler == null) {
            throw new QapiError(QapiError.ErrorClass.CommandNotFound, "The command " + name + " has not been found");
        }
        if (oobRequest && !cmd.allowOob()) throw QapiError.generic("The command %s does not support OOB", name);
        ObjectNode checked = checkArguments(cmd, args);
        if (name.equals("qmp_capabilities")) return negotiate(session, checked);
        lock.lock();
        try {
            return handler.run(checked);
        } catch (QapiError e) {
            throw e;
        } catch (Exception e) {
            throw QapiError.generic("%s", e.getMessage() == null ? e.toString() : e.getMessage());
        } finally {
            lock.unlock();
        }
    }

    private static ObjectNode checkArguments(Schema.Command cmd, JsonNode args) {
        ObjectNode given = args == null ? JsonNodeFactory.instance.objectNode() : (ObjectNode) args;
        if (cmd.argType() == null) {
            Iterator<String> extra = given.fieldNames();
            if (extra.hasNext()) throw QapiError.generic("Parameter '%s' is unexpected", extra.next());
            return given;
        }
        return InputVisitor.json(cmd.argType(), given);
    }

    private static JsonNode negotiate(QmpSession session, ObjectNode args) {
        if (session.negotiated()) {
            throw new QapiError(QapiError.ErrorClass.CommandNotFound,
                    "Capabilities negotiation is already complete, command ignored");
        }
        boolean oob = false;
        if (args.has("enable")) for (JsonNode c : args.get("enable")) oob |= c.asText().equals("oob");
        session.setNegotiated(oob);
        return JsonNodeFactory.instance.objectNode();
    }
}
