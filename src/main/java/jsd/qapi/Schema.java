package jsd.qapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.SchemaType.AlternateType;
import jsd.qapi.SchemaType.ArrayType;
import jsd.qapi.SchemaType.Builtin;
import jsd.qapi.SchemaType.EnumType;
import jsd.qapi.SchemaType.Member;
import jsd.qapi.SchemaType.ObjectType;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The QAPI schema as a model: every type, command and event, with 'if'
 * conditions evaluated against the features this build of jsd has. It is
 * the single source of truth for argument checking, the command line and
 * query-qmp-schema.
 */
public final class Schema {
    public record Command(String name, String argType, boolean boxed, String retType, List<String> features,
                          boolean allowOob) {}

    public record Event(String name, String argType) {}

    /** Conditions that hold for jsd (Linux, FUSE, vhost-user-blk and VDUSE exports). */
    public static final Set<String> CONFIG = Set.of(
            "CONFIG_LINUX", "CONFIG_POSIX", "CONFIG_FUSE", "CONFIG_VHOST_USER_BLK_SERVER",
            "CONFIG_VDUSE_BLK_EXPORT", "CONFIG_LINUX_IO_URING");

    private final Map<String, SchemaType> types = new LinkedHashMap<>();
    private final Map<String, Command> commands = new LinkedHashMap<>();
    private final Map<String, Event> events = new LinkedHashMap<>();

    private static volatile Schema instance;

    /** jsd's schema, read once from the class path. */
    public static Schema get() {
        Schema s = instance;
        if (s == null) {
            synchronized (Schema.class) {
                if (instance == null) instance = new Schema(SchemaReader.read("/qapi", "jsd-schema.json"));
                s = instance;
            }
        }
        return s;
    }

    Schema(List<ObjectNode> expressions) {
        for (String[] b : new String[][] {
                {"str", "string"}, {"number", "number"}, {"int", "int"}, {"int8", "int"}, {"int16", "int"},
                {"int32", "int"}, {"int64", "int"}, {"uint8", "int"}, {"uint16", "int"}, {"uint32", "int"},
                {"uint64", "int"}, {"size", "int"}, {"bool", "boolean"}, {"null", "null"}, {"any", "value"}}) {
            types.put(b[0], new Builtin(b[0], b[1]));
        }
        for (ObjectNode e : expressions) {
            if (!conditionHolds(e.get("if"))) continue;
            if (e.has("enum")) defineEnum(e);
            else if (e.has("struct")) defineStruct(e);
            else if (e.has("union")) defineUnion(e);
            else if (e.has("alternate")) defineAlternate(e);
            else if (e.has("command")) defineCommand(e);
            else if (e.has("event")) defineEvent(e);
            else throw new IllegalStateException("unknown schema expression " + e);
        }
        checkReferences();
    }

    public SchemaType type(String name) {
        SchemaType t = types.get(name);
        if (t != null) return t;
        if (name.startsWith("[") && name.endsWith("]")) {
            ArrayType a = new ArrayType(name, name.substring(1, name.length() - 1));
            types.put(name, a);
            return a;
        }
        throw new IllegalArgumentException("no type " + name + " in the schema");
    }

    public ObjectType objectType(String name) { return (ObjectType) type(name); }

    public Command command(String name) { return commands.get(name); }

    public Map<String, Command> commands() { return commands; }

    public Map<String, Event> events() { return events; }

    public Map<String, SchemaType> types() { return types; }

    // ---- building the model ----

    static boolean conditionHolds(JsonNode cond) {
        if (cond == null) return true;
        if (cond.isTextual()) return CONFIG.contains(cond.asText());
        if (cond.has("all")) {
            for (JsonNode c : cond.get("all")) if (!conditionHolds(c)) return false;
            return true;
        }
        if (cond.has("any")) {
            for (JsonNode c : cond.get("any")) if (conditionHolds(c)) return true;
            return false;
        }
        if (cond.has("not")) return !conditionHolds(cond.get("not"));
        throw new IllegalStateException("bad condition " + cond);
    }

    private static List<String> features(JsonNode node) {
        List<String> out = new ArrayList<>();
        if (node == null) return out;
        for (JsonNode f : node) {
            if (f.isTextual()) out.add(f.asText());
            else if (conditionHolds(f.get("if"))) out.add(f.get("name").asText());
        }
        return out;
    }

    /** A type reference: a name, or a one-element list meaning "array of". */
    private String typeRef(JsonNode ref) {
        if (ref.isArray()) {
            String element = ref.get(0).asText();
            String name = "[" + element + "]";
            types.putIfAbsent(name, new ArrayType(name, element));
            return name;
        }
        return ref.asText();
    }

    private List<Member> members(JsonNode data) {
        List<Member> out = new ArrayList<>();
        if (data == null) return out;
        for (Iterator<Map.Entry<String, JsonNode>> it = data.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            String key = m.getKey();
            boolean optional = key.startsWith("*");
            String name = optional ? key.substring(1) : key;
            JsonNode v = m.getValue();
            if (v.isObject() && !v.isArray()) {
                if (!conditionHolds(v.get("if"))) continue;
                out.add(new Member(name, typeRef(v.get("type")), optional, features(v.get("features"))));
            } else {
                out.add(new Member(name, typeRef(v), optional, List.of()));
            }
        }
        return out;
    }

    private void defineEnum(ObjectNode e) {
        List<String> values = new ArrayList<>();
        Map<String, List<String>> valueFeatures = new LinkedHashMap<>();
        for (JsonNode v : e.get("data")) {
            if (v.isTextual()) {
                values.add(v.asText());
            } else if (conditionHolds(v.get("if"))) {
                values.add(v.get("name").asText());
                List<String> f = features(v.get("features"));
                if (!f.isEmpty()) valueFeatures.put(v.get("name").asText(), f);
            }
        }
        String name = e.get("enum").asText();
        types.put(name, new EnumType(name, List.copyOf(values), valueFeatures));
    }

    private List<Member> baseMembers(JsonNode base, String ownerName) {
        if (base == null) return new ArrayList<>();
        if (base.isObject()) return members(base);
        SchemaType t = types.get(base.asText());
        if (!(t instanceof ObjectType o)) throw new IllegalStateException(ownerName + ": base " + base + " is not defined before use");
        return new ArrayList<>(o.members());
    }

    private void defineStruct(ObjectNode e) {
        String name = e.get("struct").asText();
        List<Member> all = baseMembers(e.get("base"), name);
        all.addAll(members(e.get("data")));
        types.put(name, new ObjectType(name, List.copyOf(all), null, Map.of(), features(e.get("features"))));
    }

    private void defineUnion(ObjectNode e) {
        String name = e.get("union").asText();
        List<Member> base = baseMembers(e.get("base"), name);
        Map<String, String> variants = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = e.get("data").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> v = it.next();
            JsonNode t = v.getValue();
            if (t.isObject()) {
                if (!conditionHolds(t.get("if"))) continue;
                variants.put(v.getKey(), t.get("type").asText());
            } else {
                variants.put(v.getKey(), t.asText());
            }
        }
        types.put(name, new ObjectType(name, List.copyOf(base), e.get("discriminator").asText(), variants,
                features(e.get("features"))));
    }

    private void defineAlternate(ObjectNode e) {
        String name = e.get("alternate").asText();
        types.put(name, new AlternateType(name, List.copyOf(members(e.get("data")))));
    }

    /** Inline argument dictionaries become implicit object types, named as QEMU names them. */
    private String argType(JsonNode data, String implicitName) {
        if (data == null) return null;
        if (data.isTextual()) return data.asText();
        types.put(implicitName, new ObjectType(implicitName, List.copyOf(members(data)), null, Map.of(), List.of()));
        return implicitName;
    }

    private void defineCommand(ObjectNode e) {
        String name = e.get("command").asText();
        String arg = argType(e.get("data"), "q_obj_" + name + "-arg");
        String ret = e.has("returns") ? typeRef(e.get("returns")) : null;
        boolean boxed = e.has("boxed") && e.get("boxed").asBoolean();
        boolean oob = e.has("allow-oob") && e.get("allow-oob").asBoolean();
        commands.put(name, new Command(name, arg, boxed, ret, features(e.get("features")), oob));
    }

    private void defineEvent(ObjectNode e) {
        String name = e.get("event").asText();
        events.put(name, new Event(name, argType(e.get("data"), "q_obj_" + name + "-arg")));
    }

    private void checkReferences() {
        List<String> refs = new ArrayList<>();
        for (SchemaType t : List.copyOf(types.values())) {
            switch (t) {
                case ObjectType o -> {
                    o.members().forEach(m -> refs.add(m.type()));
                    refs.addAll(o.variants().values());
                }
                case AlternateType a -> a.alternatives().forEach(m -> refs.add(m.type()));
                case ArrayType a -> refs.add(a.elementType());
                default -> { }
            }
        }
        commands.values().forEach(c -> { if (c.argType() != null) refs.add(c.argType()); if (c.retType() != null) refs.add(c.retType()); });
        events.values().forEach(ev -> { if (ev.argType() != null) refs.add(ev.argType()); });
        for (String r : refs) type(r);
    }
}
