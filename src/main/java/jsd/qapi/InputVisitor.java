package jsd.qapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.SchemaType.AlternateType;
import jsd.qapi.SchemaType.ArrayType;
import jsd.qapi.SchemaType.Builtin;
import jsd.qapi.SchemaType.EnumType;
import jsd.qapi.SchemaType.Member;
import jsd.qapi.SchemaType.ObjectType;

import java.math.BigInteger;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Checks a JSON value against a schema type and returns it in canonical
 * form, the way QEMU's QObject input visitor does, with the same error
 * messages. In keyval mode (the command line) every scalar arrives as a
 * string and is converted to the type the schema asks for.
 */
public final class InputVisitor {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);

    private final Schema schema;
    private final boolean keyval;

    private InputVisitor(Schema schema, boolean keyval) {
        this.schema = schema;
        this.keyval = keyval;
    }

    /** Checks QMP arguments (real JSON types). */
    public static ObjectNode json(String typeName, JsonNode value) {
        return (ObjectNode) new InputVisitor(Schema.get(), false).visit(typeName, value, null, null);
    }

    /** Checks a command-line option parsed by {@link Keyval} (all scalars are strings). */
    public static ObjectNode keyval(String typeName, JsonNode value) {
        return (ObjectNode) new InputVisitor(Schema.get(), true).visit(typeName, value, null, null);
    }

    private static String join(String path, String name) {
        if (path == null) return name;
        return name.startsWith("[") ? path + name : path + "." + name;
    }

    private JsonNode visit(String typeName, JsonNode v, String name, String path) {
        SchemaType t = schema.type(typeName);
        return switch (t) {
            case Builtin b -> builtin(b, v, name, path);
            case EnumType e -> enumValue(e, v, name, path);
            case ArrayType a -> array(a, v, path);
            case ObjectType o -> object(o, v, path);
            case AlternateType a -> alternate(a, v, name, path);
        };
    }

    private QapiError wrongType(String path, String expected) {
        return QapiError.generic("Invalid parameter type for '%s', expected: %s", path == null ? "null" : path, expected);
    }

    private ObjectNode object(ObjectType o, JsonNode v, String path) {
        if (v == null || !v.isObject()) throw wrongType(path, "object");
        ObjectNode out = F.objectNode();
        Set<String> used = new HashSet<>();
        visitMembers(o.members(), (ObjectNode) v, path, out, used);
        if (o.isUnion()) {
            JsonNode tag = out.get(o.tag());
            String variant = tag == null ? null : o.variants().get(tag.asText());
            if (variant != null) visitMembers(schema.objectType(variant).members(), (ObjectNode) v, path, out, used);
        }
        for (Iterator<String> it = v.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!used.contains(key)) throw QapiError.generic("Parameter '%s' is unexpected", join(path, key));
        }
        return out;
    }

    private void visitMembers(List<Member> members, ObjectNode in, String path, ObjectNode out, Set<String> used) {
        for (Member m : members) {
            JsonNode mv = in.get(m.name());
            String full = join(path, m.name());
            if (mv == null) {
                if (!m.optional()) throw QapiError.generic("Parameter '%s' is missing", full);
                continue;
            }
            used.add(m.name());
            out.set(m.name(), visit(m.type(), mv, m.name(), full));
        }
    }

    private ArrayNode array(ArrayType a, JsonNode v, String path) {
        if (v == null || !v.isArray()) throw wrongType(path, "array");
        ArrayNode out = F.arrayNode();
        int i = 0;
        for (JsonNode e : v) {
            // QEMU names list elements only in the full path: messages that use the bare name say "null"
            out.add(visit(a.elementType(), e, null, join(path, "[" + i + "]")));
            i++;
        }
        return out;
    }

    private JsonNode enumValue(EnumType e, JsonNode v, String name, String path) {
        if (v == null || !v.isTextual()) throw wrongType(path, "string");
        if (!e.values().contains(v.asText())) {
            throw QapiError.generic("Parameter '%s' does not accept value '%s'", name == null ? "null" : name, v.asText());
        }
        return v;
    }

    /** QEMU chooses an alternate's branch by the JSON type of the value. */
    private JsonNode alternate(AlternateType a, JsonNode v, String name, String path) {
        for (Member m : a.alternatives()) {
            SchemaType t = schema.type(m.type());
            boolean fits = switch (t) {
                case ObjectType o -> v.isObject();
                case ArrayType arr -> v.isArray();
                case EnumType en -> v.isTextual();
                case Builtin b -> switch (b.jsonType()) {
                    case "string" -> v.isTextual();
                    case "int" -> keyval ? v.isTextual() && !hasStringBranch(a) : v.isIntegralNumber();
                    case "number" -> keyval ? v.isTextual() && !hasStringBranch(a) : v.isNumber();
                    case "boolean" -> keyval ? v.isTextual() && !hasStringBranch(a) : v.isBoolean();
                    case "null" -> v.isNull();
                    default -> true;
                };
                case AlternateType inner -> false;
            };
            if (fits) return visit(m.type(), v, name, path);
        }
        throw wrongType(path, a.name());
    }

    private boolean hasStringBranch(AlternateType a) {
        for (Member m : a.alternatives()) {
            SchemaType t = schema.type(m.type());
            if (t instanceof EnumType || (t instanceof Builtin b && b.jsonType().equals("string"))) return true;
        }
        return false;
    }

    private JsonNode builtin(Builtin b, JsonNode v, String name, String path) {
        String type = b.name();
        return switch (type) {
            case "any" -> v;
            case "str" -> {
                if (!v.isTextual()) throw wrongType(path, "string");
                yield v;
            }
            case "null" -> {
                if (!v.isNull()) throw wrongType(path, "null");
                yield v;
            }
            case "bool" -> {
                if (keyval && v.isTextual()) yield F.booleanNode(parseBool(v.asText(), path));
                if (!v.isBoolean()) throw wrongType(path, "boolean");
                yield v;
            }
            case "number" -> {
                if (keyval && v.isTextual()) {
                    try {
                        yield F.numberNode(Double.parseDouble(v.asText()));
                    } catch (NumberFormatException e) {
                        throw QapiError.generic("Parameter '%s' expects number", path);
                    }
                }
                if (!v.isNumber()) throw wrongType(path, "number");
                yield F.numberNode(v.asDouble());
            }
            default -> integer(type, v, name, path);
        };
    }

    private static boolean parseBool(String s, String path) {
        return switch (s) {
            case "on", "yes", "true", "y" -> true;
            case "off", "no", "false", "n" -> false;
            default -> throw QapiError.generic("Parameter '%s' expects 'on' or 'off'", path);
        };
    }

    /**
     * Integers as QEMU's visitors check them. From JSON: int64 wants an
     * integer that fits ("Invalid parameter type ... integer" otherwise);
     * uint64 and size take any integer that fits in 64 bits, negative ones
     * wrapping around ("expects uint64" otherwise). From the command line:
     * strtoll/strtoull syntax, or a size with a suffix. The narrower types
     * then check their range, naming the member by its bare name.
     */
    private JsonNode integer(String type, JsonNode v, String name, String path) {
        boolean unsigned = type.startsWith("u") || type.equals("size");
        BigInteger value;
        if (keyval && v.isTextual()) {
            value = type.equals("size") ? Sizes.parse(v.asText(), path) : parseInteger(v.asText(), unsigned, path);
        } else if (unsigned) {
            if (!v.isIntegralNumber() || v.bigIntegerValue().bitLength() > 64
                    || (v.bigIntegerValue().signum() < 0 && v.bigIntegerValue().bitLength() > 63)) {
                throw QapiError.generic("Parameter '%s' expects uint64", path);
            }
            value = v.bigIntegerValue();
        } else {
            if (!v.isIntegralNumber() || v.bigIntegerValue().bitLength() > 63) throw wrongType(path, "integer");
            value = v.bigIntegerValue();
        }
        if (unsigned && value.signum() < 0) value = value.add(TWO_64);
        long max;
        long min;
        String cname;
        switch (type) {
            case "int8" -> { min = Byte.MIN_VALUE; max = Byte.MAX_VALUE; cname = "int8_t"; }
            case "int16" -> { min = Short.MIN_VALUE; max = Short.MAX_VALUE; cname = "int16_t"; }
            case "int32" -> { min = Integer.MIN_VALUE; max = Integer.MAX_VALUE; cname = "int32_t"; }
            case "uint8" -> { min = 0; max = 0xff; cname = "uint8_t"; }
            case "uint16" -> { min = 0; max = 0xffff; cname = "uint16_t"; }
            case "uint32" -> { min = 0; max = 0xffffffffL; cname = "uint32_t"; }
            default -> { return F.numberNode(value); }
        }
        if (value.bitLength() > 63 || value.longValue() < min || value.longValue() > max) {
            throw QapiError.generic("Parameter '%s' expects %s", name == null ? "null" : name, cname);
        }
        return F.numberNode(value.longValue());
    }

    /** strtoll / strtoull with base 0, as QEMU's keyval visitor reads integers; strtoull wraps "-1". */
    private static BigInteger parseInteger(String s, boolean unsigned, String path) {
        try {
            String t = s.stripLeading();
            boolean neg = t.startsWith("-");
            if (neg || t.startsWith("+")) t = t.substring(1);
            if (t.startsWith("-") || t.startsWith("+")) throw new NumberFormatException();
            BigInteger v;
            if (t.startsWith("0x") || t.startsWith("0X")) v = new BigInteger(t.substring(2), 16);
            else if (t.length() > 1 && t.startsWith("0")) v = new BigInteger(t.substring(1), 8);
            else v = new BigInteger(t);
            if (v.signum() < 0) throw new NumberFormatException();
            if (unsigned) {
                if (v.bitLength() > 64) throw new NumberFormatException();
                return neg ? TWO_64.subtract(v).mod(TWO_64) : v;
            }
            BigInteger r = neg ? v.negate() : v;
            if (r.bitLength() > 63) throw new NumberFormatException();
            return r;
        } catch (NumberFormatException | ArithmeticException e) {
            throw QapiError.generic("Parameter '%s' expects integer", path);
        }
    }
}
