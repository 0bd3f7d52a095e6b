package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.util.Iterator;
import java.util.Map;

/**
 * QMP text in and out, as QEMU writes and reads it: ASCII only (other
 * characters as \\uXXXX), "%.17g" for floating-point numbers, ", " and ": "
 * separators, four-space indentation in pretty mode; input through
 * {@link JsonLexer}. Kept free of Jackson's ObjectMapper, whose set-up
 * costs a noticeable part of start-up.
 */
public final class QmpText {
    private QmpText() {}

    public static String write(JsonNode node, boolean pretty) {
        StringBuilder out = new StringBuilder();
        write(node, out, pretty, 0);
        return out.toString();
    }

    private static void newline(StringBuilder out, boolean pretty, int indent) {
        if (pretty) out.append('\n').repeat(' ', indent * 4);
    }

    private static void write(JsonNode n, StringBuilder out, boolean pretty, int indent) {
        switch (n.getNodeType()) {
            case OBJECT -> {
                out.append('{');
                int count = 0;
                for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); count++) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (count > 0) out.append(pretty ? "," : ", ");
                    newline(out, pretty, indent + 1);
                    string(e.getKey(), out);
                    out.append(": ");
                    write(e.getValue(), out, pretty, indent + 1);
                }
                newline(out, pretty, indent); // QEMU breaks the line even in an empty pretty object or list
                out.append('}');
            }
            case ARRAY -> {
                out.append('[');
                int count = 0;
                for (JsonNode e : n) {
                    if (count++ > 0) out.append(pretty ? "," : ", ");
                    newline(out, pretty, indent + 1);
                    write(e, out, pretty, indent + 1);
                }
                newline(out, pretty, indent); // QEMU breaks the line even in an empty pretty object or list
                out.append(']');
            }
            case STRING -> string(n.asText(), out);
            case NUMBER -> {
                if (n.isIntegralNumber()) out.append(n.bigIntegerValue());
                else out.append(formatDouble(n.doubleValue()));
            }
            case BOOLEAN -> out.append(n.booleanValue());
            default -> out.append("null");
        }
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            switch (cp) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (cp >= Character.MIN_SURROGATE && cp <= Character.MAX_SURROGATE) cp = 0xFFFD; // unpaired
                    if (cp > 0xFFFF) {
                        out.append(String.format("\\u%04X\\u%04X", 0xD800 + ((cp - 0x10000) >> 10),
                                0xDC00 + ((cp - 0x10000) & 0x3FF)));
                    } else if (cp < 0x20 || cp >= 0x7F) {
                        out.append(String.format("\\u%04X", cp));
                    } else {
                        out.append((char) cp);
                    }
                }
            }
        }
        out.append('"');
    }

    /** C's printf("%.17g"), which QEMU uses for every floating-point number. */
    static String formatDouble(double d) {
        if (Double.isNaN(d)) return d > 0 ? "nan" : "nan";
        if (Double.isInfinite(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return (1 / d < 0) ? "-0" : "0";
        BigDecimal v = new BigDecimal(d).round(new MathContext(17));
        int exp = v.precision() - v.scale() - 1; // decimal exponent of the first digit
        String digits = v.unscaledValue().abs().toString();
        digits = digits.replaceFirst("0+$", "");
        if (digits.isEmpty()) digits = "0";
        String sign = v.signum() < 0 ? "-" : "";
        if (exp < -4 || exp >= 17) {
            String mant = digits.length() > 1 ? digits.charAt(0) + "." + digits.substring(1) : digits;
            return sign + mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
        }
        if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
        if (digits.length() <= exp + 1) return sign + digits + "0".repeat(exp + 1 - digits.length());
        return sign + digits.substring(0, exp + 1) + "." + digits.substring(exp + 1);
    }

    /** Parses exactly one JSON value as QEMU's qobject_from_json does (the command line's JSON form). */
    public static JsonNode parse(byte[] json) throws IOException {
        JsonNode[] result = new JsonNode[1];
        String[] error = new String[1];
        JsonLexer lexer = new JsonLexer((value, err) -> {
            if (result[0] != null) {
                result[0] = null;
                error[0] = "Expecting at most one JSON value";
            }
            if (error[0] != null) return;
            result[0] = value;
            error[0] = err;
        });
        lexer.feed(json, 0, json.length);
        lexer.flush();
        if (error[0] != null) throw new IOException(error[0]);
        if (result[0] == null) throw new IOException("Expecting a JSON value");
        return result[0];
    }
}
