package jsd.qapi;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.SchemaType.AlternateType;
import jsd.qapi.SchemaType.ArrayType;
import jsd.qapi.SchemaType.Builtin;
import jsd.qapi.SchemaType.EnumType;
import jsd.qapi.SchemaType.Member;
import jsd.qapi.SchemaType.ObjectType;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * query-qmp-schema: every command and event, and every type they reach,
 * as SchemaInfo. Like QEMU, names of types other than built-ins are
 * replaced by numbers, so clients rely only on structure.
 */
public final class Introspection {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final String EMPTY = "q_empty";

    private final Schema schema;
    private final Map<String, String> masked = new LinkedHashMap<>();
    private final Deque<String> pending = new ArrayDeque<>();

    private Introspection(Schema schema) { this.schema = schema; }

    public static ArrayNode describe(Schema schema, java.util.Set<String> implemented) {
        return new Introspection(schema).run(implemented);
    }

    private String ref(String typeName) {
        SchemaType t = schema.type(typeName);
        if (t instanceof Builtin) return typeName;
        if (t instanceof ArrayType a) {
            String element = ref(a.elementType());
            String name = "[" + element + "]";
            if (!masked.containsKey(typeName)) {
                masked.put(typeName, name);
                pending.add(typeName);
            }
            return name;
        }
        return masked.computeIfAbsent(typeName, n -> {
            pending.add(n);
            return Integer.toString(masked.size());
        });
    }

    private ArrayNode run(java.util.Set<String> implemented) {
        ArrayNode out = F.arrayNode();
        masked.put(EMPTY, "0");
        for (Schema.Command c : schema.commands().values()) {
            if (!implemented.contains(c.name())) continue;
            ObjectNode o = entity(out, c.name(), "command", c.features());
            o.put("arg-type", c.argType() == null ? "0" : ref(c.argType()));
            o.put("ret-type", c.retType() == null ? "0" : ref(c.retType()));
            if (c.allowOob()) o.put("allow-oob", true);
        }
        for (Schema.Event e : schema.events().values()) {
            ObjectNode o = entity(out, e.name(), "event", List.of());
            o.put("arg-type", e.argType() == null ? "0" : ref(e.argType()));
        }
        ObjectNode empty = entity(out, "0", "object", List.of());
        empty.putArray("members");
        while (!pending.isEmpty()) {
            String name = pending.poll();
            SchemaType t = schema.type(name);
            String shown = masked.get(name);
            switch (t) {
                case EnumType e -> {
                    ObjectNode o = entity(out, shown, "enum", List.of());
                    ArrayNode members = o.putArray("members");
                    ArrayNode values = o.putArray("values");
                    for (String v : e.values()) {
                        ObjectNode m = members.addObject();
                        m.put("name", v);
                        List<String> f = e.valueFeatures().get(v);
                        if (f != null) { ArrayNode fa = m.putArray("features"); f.forEach(fa::add); }
                        values.add(v);
                    }
                }
                case ArrayType a -> entity(out, shown, "array", List.of()).put("element-type", ref(a.elementType()));
                case ObjectType ob -> {
                    ObjectNode o = entity(out, shown, "object", ob.features());
                    ArrayNode members = o.putArray("members");
                    for (Member m : ob.members()) {
                        ObjectNode mo = members.addObject();
                        mo.put("name", m.name());
                        mo.put("type", ref(m.type()));
                        if (m.optional()) mo.putNull("default");
                        if (!m.features().isEmpty()) { ArrayNode fa = mo.putArray("features"); m.features().forEach(fa::add); }
                    }
                    if (ob.isUnion()) {
                        o.put("tag", ob.tag());
                        ArrayNode variants = o.putArray("variants");
                        ob.variants().forEach((k, v) -> {
                            ObjectNode vo = variants.addObject();
                            vo.put("case", k);
                            vo.put("type", ref(v));
                        });
                    }
                }
                case AlternateType al -> {
                    ObjectNode o = entity(out, shown, "alternate", List.of());
                    ArrayNode members = o.putArray("members");
                    for (Member m : al.alternatives()) members.addObject().put("type", ref(m.type()));
                }
                case Builtin b -> { }
            }
        }
        for (SchemaType t : schema.types().values()) {
            if (t instanceof Builtin b) entity(out, b.name(), "builtin", List.of()).put("json-type", b.jsonType());
        }
        return out;
    }

    private static ObjectNode entity(ArrayNode out, String name, String metaType, List<String> features) {
        ObjectNode o = out.addObject();
        o.put("name", name);
        o.put("meta-type", metaType);
        if (!features.isEmpty()) { ArrayNode fa = o.putArray("features"); features.forEach(fa::add); }
        return o;
    }
}
