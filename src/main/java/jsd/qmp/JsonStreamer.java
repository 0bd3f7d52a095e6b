package jsd.qmp;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Cuts a QMP byte stream into top-level JSON values without parsing them,
 * so one malformed message costs one error reply and the stream goes on.
 * It tracks strings (double- and single-quoted, as QEMU's parser accepts
 * both) and bracket depth, and enforces QEMU's limits on nesting and size.
 */
final class JsonStreamer {
    static final int MAX_NESTING = 1024;
    static final int MAX_MESSAGE = 64 << 20;

    /** One cut: either the bytes of a complete value, or an error to report. */
    record Piece(byte[] json, String error) {}

    private final InputStream in;
    private final byte[] buf = new byte[65536];
    private int pos;
    private int len;

    JsonStreamer(InputStream in) { this.in = in; }

    private int read() throws IOException {
        if (pos == len) {
            len = in.read(buf, 0, buf.length);
            pos = 0;
            if (len <= 0) { len = 0; return -1; }
        }
        return buf[pos++] & 0xff;
    }

    private static boolean bareChar(int c) {
        return Character.isLetterOrDigit(c) || c == '-' || c == '+' || c == '.' || c >= 0x80;
    }

    /** The next piece, or null at the end of the stream (a partial message there is dropped, as QEMU does). */
    Piece next() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int depth = 0;
        char[] stack = new char[MAX_NESTING];
        int quote = 0;
        boolean escape = false;
        while (true) {
            int c = read();
            if (c < 0) return depth == 0 && quote == 0 && out.size() > 0 ? new Piece(out.toByteArray(), null) : null;
            if (out.size() >= MAX_MESSAGE) {
                skipRest(depth, quote);
                return new Piece(null, "JSON token size limit exceeded");
            }
            if (quote != 0) {
                out.write(c);
                if (escape) escape = false;
                else if (c == '\\') escape = true;
                else if (c == quote) {
                    quote = 0;
                    if (depth == 0) return new Piece(out.toByteArray(), null);
                }
                continue;
            }
            if (depth == 0 && out.size() > 0) { // inside a bare top-level word such as "garbage" or 42
                if (bareChar(c)) { out.write(c); continue; }
                pos--;
                return new Piece(out.toByteArray(), null);
            }
            switch (c) {
                case ' ', '\t', '\r', '\n' -> { if (depth > 0) out.write(c); }
                case '"', '\'' -> { out.write(c); quote = c; }
                case '{', '[' -> {
                    if (depth == MAX_NESTING) {
                        skipRest(depth + 1, 0);
                        return new Piece(null, "JSON nesting depth limit exceeded");
                    }
                    stack[depth++] = (char) c;
                    out.write(c);
                }
                case '}', ']' -> {
                    if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '[')) {
                        return new Piece(null, "JSON parse error, expecting value"); // what was open is abandoned
                    }
                    depth--;
                    out.write(c);
                    if (depth == 0) return new Piece(out.toByteArray(), null);
                }
                default -> out.write(c);
            }
        }
    }

    /** Discards input up to the end of the current message (depth back to 0). */
    private void skipRest(int depth, int quote) throws IOException {
        boolean escape = false;
        while (depth > 0 || quote != 0) {
            int c = read();
            if (c < 0) return;
            if (quote != 0) {
                if (escape) escape = false;
                else if (c == '\\') escape = true;
                else if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                depth--;
            }
        }
    }
}
