package jsd.qmp;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * QMP's JSON input, byte by byte, cut into messages the way QEMU's lexer and
 * "streamer" do it, so that malformed input gets the same errors and the
 * same recovery as from qemu-storage-daemon: a lexical error reports the
 * stray text and skips to the next structural or control character; a
 * message ends when its braces and brackets balance (or go negative) and is
 * then handed to {@link JsonParser}. Limits: 64 MiB and 2 Mi tokens per
 * message, nesting 1024.
 */
public final class JsonLexer {
    static final int MAX_TOKEN_SIZE = 64 << 20;
    static final int MAX_TOKEN_COUNT = 2 << 20;
    static final int MAX_NESTING = 1024;

    /** Receives each complete message: a parsed value, or an error desc ("JSON parse error, ..."). */
    public interface Sink {
        void message(com.fasterxml.jackson.databind.JsonNode value, String error);
    }

    // lexer states
    private static final int START = 1, RECOVERY = 2, DQ = 3, DQ_ESC = 4, SQ = 5, SQ_ESC = 6, ZERO = 7,
            EXP_DIGITS = 8, EXP_SIGN = 9, EXP_E = 10, MANTISSA = 11, MANTISSA_DIGITS = 12, DIGITS = 13,
            SIGN = 14, KEYWORD = 15;
    // token types (what a transition may produce); ERROR is a lexical error
    static final int ERROR = 100, LCURLY = 101, RCURLY = 102, LSQUARE = 103, RSQUARE = 104, COLON = 105,
            COMMA = 106, INTEGER = 107, FLOAT = 108, T_KEYWORD = 109, STRING = 110;
    /** The character ends the token but is not part of it: feed it again in the next state. */
    private static final int LOOKAHEAD = 0x1000;

    /** One token as the parser sees it. */
    record Token(int type, byte[] text) {}

    private final Sink sink;
    private final ByteArrayOutputStream token = new ByteArrayOutputStream();
    private int state = START;
    private final List<Token> tokens = new ArrayList<>();
    private long tokenSize;
    private int braces;
    private int brackets;

    public JsonLexer(Sink sink) { this.sink = sink; }

    private static boolean digit(int c) { return c >= '0' && c <= '9'; }

    /** After a number or keyword, any ASCII character ends the token; other bytes are errors. */
    private static int terminal(int type, int c) { return c < 0x80 ? type | LOOKAHEAD : ERROR; }

    private static int next(int s, int c) {
        return switch (s) {
            case RECOVERY -> (c < 0x20 && c != '\t') || c >= 0xFE || "[]{}:,".indexOf(c) >= 0
                    ? START | LOOKAHEAD : RECOVERY;
            case DQ_ESC -> c >= 0x20 && c <= 0xFD ? DQ : ERROR;
            case SQ_ESC -> c >= 0x20 && c <= 0xFD ? SQ : ERROR;
            case DQ -> c == '\\' ? DQ_ESC : c == '"' ? STRING : c >= 0x20 && c <= 0xFD ? DQ : ERROR;
            case SQ -> c == '\\' ? SQ_ESC : c == '\'' ? STRING : c >= 0x20 && c <= 0xFD ? SQ : ERROR;
            case ZERO -> digit(c) ? ERROR : c == '.' ? MANTISSA : c == 'e' || c == 'E' ? EXP_E : terminal(INTEGER, c);
            case EXP_DIGITS -> digit(c) ? EXP_DIGITS : terminal(FLOAT, c);
            case EXP_SIGN -> digit(c) ? EXP_DIGITS : ERROR;
            case EXP_E -> c == '-' || c == '+' ? EXP_SIGN : digit(c) ? EXP_DIGITS : ERROR;
            case MANTISSA_DIGITS -> digit(c) ? MANTISSA_DIGITS : c == 'e' || c == 'E' ? EXP_E : terminal(FLOAT, c);
            case MANTISSA -> digit(c) ? MANTISSA_DIGITS : ERROR;
            case DIGITS -> digit(c) ? DIGITS : c == 'e' || c == 'E' ? EXP_E : c == '.' ? MANTISSA : terminal(INTEGER, c);
            case SIGN -> c == '0' ? ZERO : c >= '1' && c <= '9' ? DIGITS : ERROR;
            case KEYWORD -> c >= 'a' && c <= 'z' ? KEYWORD : terminal(T_KEYWORD, c);
            default -> switch (c) { // START
                case '"' -> DQ;
                case '\'' -> SQ;
                case '0' -> ZERO;
                case '-' -> SIGN;
                case '{' -> LCURLY;
                case '}' -> RCURLY;
                case '[' -> LSQUARE;
                case ']' -> RSQUARE;
                case ',' -> COMMA;
                case ':' -> COLON;
                case ' ', '\t', '\r', '\n' -> START;
                default -> c >= '1' && c <= '9' ? DIGITS : c >= 'a' && c <= 'z' ? KEYWORD : ERROR;
            };
        };
    }

    public void feed(byte[] buf, int off, int len) {
        for (int i = off; i < off + len; i++) feed(buf[i] & 0xff);
    }

    private void feed(int c) {
        boolean consumed = false;
        while (!consumed) {
            int n = next(state, c);
            consumed = (n & LOOKAHEAD) == 0;
            n &= ~LOOKAHEAD;
            if (consumed) token.write(c);
            if (n >= LCURLY) {
                process(n, token.toByteArray());
                token.reset();
                state = START;
            } else if (n == ERROR) {
                process(ERROR, token.toByteArray());
                token.reset();
                state = RECOVERY;
            } else if (n == START || n == RECOVERY) {
                token.reset();
                state = n;
            } else {
                state = n;
            }
        }
        if (token.size() > MAX_TOKEN_SIZE) { // one token may not grow without bound either
            process(0, token.toByteArray());
            token.reset();
            state = START;
        }
    }

    /** End of input (a command-line value): finishes a pending token and a pending message. */
    public void flush() {
        while (state != START) {
            int n = next(state, 0) & ~LOOKAHEAD; // NUL ends numbers and keywords; anything else is an error
            if (state == RECOVERY) n = START;
            if (n >= LCURLY) process(n, token.toByteArray());
            else if (n == ERROR) process(ERROR, token.toByteArray());
            token.reset();
            state = START;
        }
        if (!tokens.isEmpty()) {
            emitParsed();
        }
    }

    private void process(int type, byte[] text) {
        switch (type) {
            case LCURLY -> braces++;
            case RCURLY -> braces--;
            case LSQUARE -> brackets++;
            case RSQUARE -> brackets--;
            case ERROR -> {
                emit(null, "JSON parse error, stray '" + JsonParser.decodeLenient(text, true) + "'");
                return;
            }
            default -> { }
        }
        if (tokenSize + text.length + 1 > MAX_TOKEN_SIZE) {
            emit(null, "JSON token size limit exceeded");
            return;
        }
        if (tokens.size() + 1 > MAX_TOKEN_COUNT) {
            emit(null, "JSON token count limit exceeded");
            return;
        }
        if (braces + brackets > MAX_NESTING) {
            emit(null, "JSON nesting depth limit exceeded");
            return;
        }
        tokens.add(new Token(type, text));
        tokenSize += text.length;
        if ((braces > 0 || brackets > 0) && braces >= 0 && brackets >= 0) return;
        emitParsed();
    }

    private void emitParsed() {
        JsonParser.Result r = JsonParser.parse(tokens);
        emit(r.value(), r.error());
    }

    private void emit(com.fasterxml.jackson.databind.JsonNode value, String error) {
        braces = 0;
        brackets = 0;
        tokens.clear();
        tokenSize = 0;
        sink.message(value, error);
    }

    /** Drops a half-read message (a client went away; QEMU starts the next one afresh). */
    public void reset() {
        token.reset();
        state = START;
        braces = 0;
        brackets = 0;
        tokens.clear();
        tokenSize = 0;
    }
}
