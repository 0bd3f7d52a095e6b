package jsd.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.math.BigInteger;
import java.util.List;

/**
 * Builds a value from the tokens of one message, as QEMU's JSON parser
 * does: the first error found is the one reported, with QEMU's wording;
 * strings are checked as QEMU's "modified UTF-8" (noncharacters,
 * surrogates and overlong forms are refused; \u0000 is allowed); integers
 * become int64, else uint64, else double.
 */
final class JsonParser {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);

    record Result(JsonNode value, String error) {}

    private final List<JsonLexer.Token> tokens;
    private int pos;
    private String error;

    private JsonParser(List<JsonLexer.Token> tokens) { this.tokens = tokens; }

    static Result parse(List<JsonLexer.Token> tokens) {
        JsonParser p = new JsonParser(tokens);
        JsonNode v = p.value();
        return p.error != null ? new Result(null, "JSON parse error, " + p.error) : new Result(v, null);
    }

    private void fail(String message) {
        if (error == null) error = message;
    }

    private JsonLexer.Token peek() { return pos < tokens.size() ? tokens.get(pos) : null; }

    private JsonLexer.Token pop() { return pos < tokens.size() ? tokens.get(pos++) : null; }

    private JsonNode value() {
        JsonLexer.Token t = peek();
        if (t == null) {
            fail("premature EOI");
            return null;
        }
        return switch (t.type()) {
            case JsonLexer.LCURLY -> object();
            case JsonLexer.LSQUARE -> array();
            case JsonLexer.INTEGER, JsonLexer.FLOAT -> number(pop());
            case JsonLexer.STRING -> string(pop());
            case JsonLexer.T_KEYWORD -> keyword(pop());
            default -> {
                fail("expecting value");
                yield null;
            }
        };
    }

    private JsonNode object() {
        pop();
        ObjectNode obj = F.objectNode();
        JsonLexer.Token t = peek();
        if (t == null) {
            fail("premature EOI");
            return null;
        }
        if (t.type() == JsonLexer.RCURLY) {
            pop();
            return obj;
        }
        if (!pair(obj)) return null;
        for (t = pop(); ; t = pop()) {
            if (t == null) {
                fail("premature EOI");
                return null;
            }
            if (t.type() == JsonLexer.RCURLY) return obj;
            if (t.type() != JsonLexer.COMMA) {
                fail("expected separator in dict");
                return null;
            }
            if (!pair(obj)) return null;
        }
    }

    private boolean pair(ObjectNode obj) {
        if (peek() == null) {
            fail("premature EOI");
            return false;
        }
        JsonNode key = value();
        if (key == null || !key.isTextual()) {
            fail("key is not a string in object");
            return false;
        }
        JsonLexer.Token t = pop();
        if (t == null) {
            fail("premature EOI");
            return false;
        }
        if (t.type() != JsonLexer.COLON) {
            fail("missing : in object pair");
            return false;
        }
        JsonNode v = value();
        if (v == null) {
            fail("Missing value in dict");
            return false;
        }
        if (obj.has(key.asText())) {
            fail("duplicate key");
            return false;
        }
        obj.set(key.asText(), v);
        return true;
    }

    private JsonNode array() {
        pop();
        ArrayNode arr = F.arrayNode();
        JsonLexer.Token t = peek();
        if (t == null) {
            fail("premature EOI");
            return null;
        }
        if (t.type() == JsonLexer.RSQUARE) {
            pop();
            return arr;
        }
        while (true) {
            JsonNode v = value();
            if (v == null) {
                fail("expecting value");
                return null;
            }
            arr.add(v);
            t = pop();
            if (t == null) {
                fail("premature EOI");
                return null;
            }
            if (t.type() == JsonLexer.RSQUARE) return arr;
            if (t.type() != JsonLexer.COMMA) {
                fail("expected separator in list");
                return null;
            }
        }
    }

    private JsonNode keyword(JsonLexer.Token t) {
        String k = new String(t.text(), java.nio.charset.StandardCharsets.US_ASCII);
        return switch (k) {
            case "true" -> F.booleanNode(true);
            case "false" -> F.booleanNode(false);
            case "null" -> F.nullNode();
            default -> {
                fail("invalid keyword '" + k + "'");
                yield null;
            }
        };
    }

    private static JsonNode number(JsonLexer.Token t) {
        String s = new String(t.text(), java.nio.charset.StandardCharsets.US_ASCII);
        if (t.type() == JsonLexer.INTEGER) {
            BigInteger v = new BigInteger(s);
            if (v.bitLength() <= 63) return F.numberNode(v.longValue());
            if (v.signum() > 0 && v.compareTo(TWO_64) < 0) return F.numberNode(v);
        }
        return F.numberNode(Double.parseDouble(s)); // as strtod: out of range gives infinity
    }

    private JsonNode string(JsonLexer.Token t) {
        byte[] b = t.text();
        int quote = b[0];
        StringBuilder out = new StringBuilder();
        int[] end = new int[1];
        int p = 1;
        while (b[p] != quote) {
            if (b[p] == '\\') {
                int begin = p;
                p++;
                int c = b[p++];
                switch (c) {
                    case '"', '\'', '\\', '/' -> out.append((char) c);
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'n' -> out.append('\n');
                    case 'r' -> out.append('\r');
                    case 't' -> out.append('\t');
                    case 'u' -> {
                        int cp = hex4(b, p);
                        p += 4;
                        if (cp >= 0xD800 && cp <= 0xDBFF && p + 1 < b.length && b[p] == '\\' && b[p + 1] == 'u') {
                            cp = 0x10000 + ((cp & 0x3FF) << 10);
                            int trailing = hex4(b, p + 2);
                            if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
                                cp |= trailing & 0x3FF;
                                p += 6;
                            } else {
                                cp = -1;
                            }
                        }
                        if (!validCodepoint(cp)) {
                            fail(new String(b, begin, Math.min(p, b.length) - begin, java.nio.charset.StandardCharsets.ISO_8859_1)
                                    + " is not a valid Unicode character");
                            return null;
                        }
                        out.appendCodePoint(cp);
                    }
                    default -> {
                        fail("invalid escape sequence in string");
                        return null;
                    }
                }
            } else {
                int cp = codepoint(b, p, end);
                if (cp < 0) {
                    fail("invalid UTF-8 sequence in string");
                    return null;
                }
                p = end[0];
                out.appendCodePoint(cp);
            }
        }
        return F.textNode(out.toString());
    }

    /** Four hex digits at p, or -1 (then the code point is refused as invalid). */
    private static int hex4(byte[] b, int p) {
        int cp = 0;
        for (int i = 0; i < 4; i++) {
            if (p + i >= b.length) return -1;
            int d = Character.digit(b[p + i], 16);
            if (d < 0) return -1;
            cp = cp << 4 | d;
        }
        return cp;
    }

    static boolean validCodepoint(int cp) {
        if (cp < 0 || cp > 0x10FFFF) return false;
        if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return false; // noncharacters
        return cp < 0xD800 || cp > 0xDFFF; // surrogates
    }

    private static final int[] MIN_CP = {0x80, 0x800, 0x10000, 0x200000, 0x4000000};

    /**
     * Decodes one UTF-8 sequence at p as QEMU does ("modified UTF-8": C0 80
     * is NUL); end[0] receives where it stopped. Returns -1 for anything invalid.
     */
    static int codepoint(byte[] s, int p, int[] end) {
        if (p >= s.length || s[p] == 0) {
            end[0] = p;
            return -1;
        }
        int b = s[p++] & 0xff;
        int cp;
        if (b < 0x80) {
            cp = b;
        } else if (b >= 0xFE || (b & 0x40) == 0) {
            cp = -1;
        } else {
            int len = 0;
            int mask = 0x80;
            for (; (b & mask) != 0; mask >>= 1) len++;
            cp = b & (mask - 1);
            for (int i = 1; i < len; i++) {
                int c = p < s.length ? s[p] & 0xff : 0;
                if ((c & 0xC0) != 0x80) {
                    end[0] = p;
                    return -1;
                }
                p++;
                cp = cp << 6 | (c & 0x3F);
            }
            if (!validCodepoint(cp) || (cp < MIN_CP[len - 2] && !(cp == 0 && len == 2))) cp = -1;
        }
        end[0] = p;
        return cp;
    }

    /**
     * Bytes as text the way QEMU shows them back: up to the first NUL (they
     * are C strings there), each invalid sequence as U+FFFD.
     */
    static String decodeLenient(byte[] s, boolean stopAtNul) {
        StringBuilder out = new StringBuilder();
        int[] end = new int[1];
        for (int p = 0; p < s.length; ) {
            if (s[p] == 0 && stopAtNul) break;
            int cp = codepoint(s, p, end);
            out.appendCodePoint(cp < 0 ? 0xFFFD : cp);
            p = Math.max(end[0], p + 1);
        }
        return out.toString();
    }
}
