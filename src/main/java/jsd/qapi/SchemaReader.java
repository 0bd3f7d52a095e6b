package jsd.qapi;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads QAPI schema files: a sequence of top-level expressions written in a
 * JSON dialect with single-quoted strings and '#' comments. Includes are
 * followed (once each) relative to the including file, inside the class path
 * folder the schema lives in.
 */
public final class SchemaReader {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    private final String folder;
    private final Set<String> seen = new HashSet<>();
    private final List<ObjectNode> expressions = new ArrayList<>();

    private SchemaReader(String folder) { this.folder = folder; }

    /** All expressions of the schema rooted at folder/root, includes expanded in place. */
    public static List<ObjectNode> read(String folder, String root) {
        SchemaReader reader = new SchemaReader(folder);
        reader.readFile(root);
        return reader.expressions;
    }

    private void readFile(String name) {
        if (!seen.add(name)) return;
        String text;
        try (InputStream in = SchemaReader.class.getResourceAsStream(folder + "/" + name)) {
            if (in == null) throw new IllegalStateException("schema file missing: " + folder + "/" + name);
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read schema file " + name, e);
        }
        Parser p = new Parser(name, text);
        while (p.skipSpace()) {
            JsonNode expr = p.value();
            if (!(expr instanceof ObjectNode obj)) throw p.error("top-level expression must be an object");
            if (obj.has("include")) {
                readFile(obj.get("include").asText());
            } else if (!obj.has("pragma")) {
                expressions.add(obj);
            }
        }
    }

    private static final class Parser {
        private final String file;
        private final String s;
        private int pos;

        Parser(String file, String s) { this.file = file; this.s = s; }

        IllegalStateException error(String what) {
            int line = 1;
            for (int i = 0; i < pos && i < s.length(); i++) if (s.charAt(i) == '\n') line++;
            return new IllegalStateException(file + ":" + line + ": " + what);
        }

        /** Skips blanks and comments; false at the end of the text. */
        boolean skipSpace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == '#') {
                    while (pos < s.length() && s.charAt(pos) != '\n') pos++;
                } else if (Character.isWhitespace(c)) {
                    pos++;
                } else {
                    return true;
                }
            }
            return false;
        }

        JsonNode value() {
            if (!skipSpace()) throw error("unexpected end of file");
            char c = s.charAt(pos);
            switch (c) {
                case '{' -> {
                    pos++;
                    ObjectNode obj = F.objectNode();
                    if (peek('}')) { pos++; return obj; }
                    while (true) {
                        skipSpace();
                        String key = string();
                        expect(':');
                        obj.set(key, value());
                        skipSpace();
                        if (peek(',')) { pos++; continue; }
                        expect('}');
                        return obj;
                    }
                }
                case '[' -> {
                    pos++;
                    ArrayNode arr = F.arrayNode();
                    if (peek(']')) { pos++; return arr; }
                    while (true) {
                        arr.add(value());
                        skipSpace();
                        if (peek(',')) { pos++; continue; }
                        expect(']');
                        return arr;
                    }
                }
                case '\'' -> { return F.textNode(string()); }
                default -> {
                    if (s.startsWith("true", pos)) { pos += 4; return F.booleanNode(true); }
                    if (s.startsWith("false", pos)) { pos += 5; return F.booleanNode(false); }
                    throw error("unexpected character '" + c + "'");
                }
            }
        }

        private boolean peek(char c) { skipSpace(); return pos < s.length() && s.charAt(pos) == c; }

        private void expect(char c) {
            if (!peek(c)) throw error("expected '" + c + "'");
            pos++;
        }

        private String string() {
            if (!peek('\'')) throw error("expected a string");
            int end = s.indexOf('\'', pos + 1);
            if (end < 0) throw error("unterminated string");
            String v = s.substring(pos + 1, end);
            pos = end + 1;
            return v;
        }
    }
}
