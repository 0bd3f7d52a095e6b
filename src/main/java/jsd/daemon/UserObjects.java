package jsd.daemon;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * Objects made with --object / object-add: TLS credentials, secrets,
 * authorization rules, iothreads. A type may register a factory that
 * checks its properties and builds a live object; other types are kept as
 * their checked properties. Users (the NBD server holding tls-creds, say)
 * register an in-use check so object-del can refuse. Changes happen under
 * the daemon lock; lookups may also come from connection threads (an NBD
 * client's TLS credentials and authz are found when it connects), so the
 * map itself is guarded by this object's monitor.
 */
public final class UserObjects {
    /** Builds the live object for one qom-type from its checked ObjectOptions. */
    @FunctionalInterface
    public interface Factory {
        Object create(ObjectNode options) throws IOException;
    }

    public record Entry(String id, String type, ObjectNode options, Object instance) {}

    private final Map<String, Entry> objects = new LinkedHashMap<>();
    private final Map<String, Factory> factories = new ConcurrentHashMap<>();
    private final Map<String, Predicate<String>> inUseChecks = new ConcurrentHashMap<>();

    public void registerFactory(String type, Factory f) { factories.put(type, f); }

    /** name: who asks ("NBD server"), check: whether that user holds the object with this id. */
    public void registerUser(String name, Predicate<String> check) { inUseChecks.put(name, check); }

    public Entry add(ObjectNode options) throws IOException {
        String id = options.get("id").asText();
        if (find(id) != null) {
            throw QapiError.generic("attempt to add duplicate property '%s' to object (type 'container')", id);
        }
        if (!id.matches("[A-Za-z][A-Za-z0-9_.\\-]*")) {
            throw QapiError.generic("Parameter 'id' expects an identifier")
                    .withHint("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
        }
        String type = options.get("qom-type").asText();
        Factory f = factories.get(type);
        Entry e = new Entry(id, type, options, f == null ? options : f.create(options));
        synchronized (this) {
            objects.put(id, e);
        }
        return e;
    }

    public void delete(String id) {
        Entry e = find(id);
        if (e == null) throw QapiError.generic("object '%s' not found", id);
        for (Predicate<String> check : inUseChecks.values()) {
            if (check.test(id)) throw QapiError.generic("object '%s' is in use, can not be deleted", id);
        }
        synchronized (this) {
            objects.remove(id);
        }
        if (e.instance() instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // the object is gone either way
            }
        }
    }

    public synchronized Entry find(String id) { return objects.get(id); }

    /** The object with this id if it has the given type, else null. */
    public Object instance(String id, String type) {
        Entry e = find(id);
        return e != null && e.type().equals(type) ? e.instance() : null;
    }

    public synchronized Map<String, Boolean> idsOfType(String type) {
        Map<String, Boolean> out = new LinkedHashMap<>();
        objects.values().stream().filter(e -> e.type().equals(type)).forEach(e -> out.put(e.id(), true));
        return out;
    }
}
