package jsd.export.nbd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static jsd.export.nbd.NbdConstants.*;

/**
 * The fixed newstyle handshake of one connection, as straight-line code:
 * greeting, client flags, then options until NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME selects an export (or the client leaves). Every
 * malformed option gets the NBD_REP_ERR_* the spec asks for, with QEMU's
 * message text; only what cannot be answered (bad magic, EXPORT_NAME
 * failures) ends the connection.
 */
final class Handshake {
    /** What the options negotiated, handed to the transmission phase. */
    record Result(NbdExport export, Connection connection, boolean structured, boolean extended,
                  MetaContexts.Selection contexts, long size) {}

    /** Options longer than this are not read into memory but skipped and refused. */
    private static final int MAX_OPTION_LENGTH = 1 << 20;

    private final NbdServer server;
    private final ClientSession client;
    private Connection conn;
    private boolean fixed;
    private boolean noZeroes;
    private boolean tlsActive;
    private boolean structured;
    private boolean extended;
    private MetaContexts.Selection contexts = MetaContexts.Selection.NONE;
    private final ByteBuffer header = ByteBuffer.allocate(20);

    Handshake(NbdServer server, ClientSession client, Connection conn) {
        this.server = server;
        this.client = client;
        this.conn = conn;
    }

    /** Runs the handshake; null when the client went away without selecting an export. */
    Result run() throws IOException {
        ByteBuffer greet = ByteBuffer.allocate(18);
        greet.putLong(NBDMAGIC).putLong(IHAVEOPT).putShort((short) (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)).flip();
        conn.write(greet);
        ByteBuffer cflags = ByteBuffer.allocate(4);
        conn.readFully(cflags);
        int flags = cflags.getInt(0);
        if ((flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) != 0) {
            log("Unsupported client flags 0x%x", flags);
            return null;
        }
        fixed = (flags & NBD_FLAG_C_FIXED_NEWSTYLE) != 0;
        noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) != 0;
        ByteBuffer optHeader = ByteBuffer.allocate(16);
        while (true) {
            optHeader.clear();
            conn.readFully(optHeader);
            long magic = optHeader.getLong(0);
            int opt = optHeader.getInt(8);
            long length = Integer.toUnsignedLong(optHeader.getInt(12));
            if (magic != IHAVEOPT) {
                log("Bad magic received");
                return null;
            }
            boolean tlsRequired = server.tls() != null && !tlsActive;
            if (opt == NBD_OPT_EXPORT_NAME) {
                if (tlsRequired) {
                    // EXPORT_NAME cannot be refused with a reply: the spec says to close
                    report("Option 0x%x not permitted before TLS", opt);
                    return null;
                }
                return exportName(length);
            }
            if (!fixed) {
                // without fixed newstyle there is no way to reply: only EXPORT_NAME is valid
                log("Unsupported option %d (%s)", opt, optName(opt));
                return null;
            }
            if (length > MAX_OPTION_LENGTH) {
                skip(length);
                error(opt, NBD_REP_ERR_TOO_BIG, "option '%s' is too long", optName(opt));
                continue;
            }
            ByteBuffer data = ByteBuffer.allocate((int) length);
            conn.readFully(data);
            data.flip();
            if (tlsRequired && opt != NBD_OPT_STARTTLS && opt != NBD_OPT_ABORT) {
                error(opt, NBD_REP_ERR_TLS_REQD, "Option 0x%x not permitted before TLS", opt);
                continue;
            }
            switch (opt) {
                case NBD_OPT_ABORT -> {
                    reply(opt, NBD_REP_ACK, null);
                    return null;
                }
                case NBD_OPT_LIST -> list(opt, data);
                case NBD_OPT_STARTTLS -> {
                    if (!startTls(opt, data)) return null;
                }
                case NBD_OPT_INFO, NBD_OPT_GO -> {
                    Result r = infoOrGo(opt, data);
                    if (r != null) return r;
                }
                case NBD_OPT_STRUCTURED_REPLY -> {
                    if (data.hasRemaining()) unexpectedLength(opt);
                    else if (extended) error(opt, NBD_REP_ERR_EXT_HEADER_REQD, "extended headers already negotiated");
                    else if (structured) error(opt, NBD_REP_ERR_INVALID, "structured reply already negotiated");
                    else {
                        structured = true;
                        reply(opt, NBD_REP_ACK, null);
                    }
                }
                case NBD_OPT_EXTENDED_HEADERS -> {
                    if (data.hasRemaining()) unexpectedLength(opt);
                    else if (extended) error(opt, NBD_REP_ERR_INVALID, "extended headers already negotiated");
                    else {
                        extended = true;
                        structured = true; // extended headers imply structured replies
                        reply(opt, NBD_REP_ACK, null);
                    }
                }
                case NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT -> metaContext(opt, data);
                default -> error(opt, NBD_REP_ERR_UNSUP, "Unsupported option %d (%s)", Integer.toUnsignedLong(opt), optName(opt));
            }
        }
    }

    // ---- options ----

    private Result exportName(long length) throws IOException {
        if (length > NBD_MAX_STRING_SIZE) {
            log("Bad length received");
            return null;
        }
        ByteBuffer data = ByteBuffer.allocate((int) length);
        conn.readFully(data);
        String name = new String(data.array(), StandardCharsets.UTF_8);
        NbdExport export = server.export(name);
        if (export == null || !export.attach(client)) {
            log("export not found");
            return null;
        }
        long size = export.node().size();
        int flags = transmissionFlags(export);
        ByteBuffer b = ByteBuffer.allocate(noZeroes ? 10 : 134);
        b.putLong(size).putShort((short) flags);
        b.position(b.limit()).flip();
        try {
            conn.write(b);
        } catch (IOException e) {
            export.detach(client);
            throw e;
        }
        return new Result(export, conn, structured, extended, contextsFor(export), size);
    }

    private void list(int opt, ByteBuffer data) throws IOException {
        if (data.hasRemaining()) {
            unexpectedLength(opt);
            return;
        }
        for (NbdExport e : server.exports()) {
            byte[] name = utf8(e.name());
            byte[] desc = utf8(e.description());
            ByteBuffer b = ByteBuffer.allocate(4 + name.length + desc.length);
            b.putInt(name.length).put(name).put(desc).flip();
            reply(opt, NBD_REP_SERVER, b);
        }
        reply(opt, NBD_REP_ACK, null);
    }

    /** Answers STARTTLS and, after an ACK, runs the TLS handshake; false when the client must go (logged). */
    private boolean startTls(int opt, ByteBuffer data) throws IOException {
        if (data.hasRemaining()) unexpectedLength(opt);
        else if (tlsActive) error(opt, NBD_REP_ERR_INVALID, "TLS already enabled");
        else if (server.tls() == null) error(opt, NBD_REP_ERR_POLICY, "TLS not configured");
        else {
            reply(opt, NBD_REP_ACK, null);
            try {
                conn = server.tls().upgrade(conn);
            } catch (jsd.crypto.TlsHandshakeException e) {
                // failed handshake, timeout, or denied by tls-authz: the ACK is out, so all we can do is close
                report("%s", e.getMessage());
                return false;
            }
            client.upgraded(conn);
            tlsActive = true;
            // nothing negotiated in plaintext survives the upgrade
            structured = false;
            extended = false;
            contexts = MetaContexts.Selection.NONE;
        }
        return true;
    }

    private Result infoOrGo(int opt, ByteBuffer data) throws IOException {
        String name = readName(opt, data);
        if (name == null) return null;
        if (data.remaining() < 2) {
            inconsistent(opt);
            return null;
        }
        int requests = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != requests * 2) {
            inconsistent(opt);
            return null;
        }
        boolean wantName = false;
        for (int i = 0; i < requests; i++) {
            if (data.getShort() == NBD_INFO_NAME) wantName = true;
        }
        NbdExport export = server.export(name);
        if (export == null) {
            error(opt, NBD_REP_ERR_UNKNOWN, "export '%s' not present", name);
            return null;
        }
        boolean go = opt == NBD_OPT_GO;
        if (go && !export.attach(client)) {
            error(opt, NBD_REP_ERR_UNKNOWN, "export '%s' not present", name);
            return null;
        }
        try {
            long size = export.node().size();
            if (wantName) info(opt, NBD_INFO_NAME, ByteBuffer.wrap(utf8(export.name())));
            if (!export.description().isEmpty()) info(opt, NBD_INFO_DESCRIPTION, ByteBuffer.wrap(utf8(export.description())));
            ByteBuffer bs = ByteBuffer.allocate(12);
            bs.putInt(1).putInt(PREFERRED_BLOCK_SIZE).putInt(NBD_MAX_BUFFER_SIZE).flip();
            info(opt, NBD_INFO_BLOCK_SIZE, bs);
            ByteBuffer ex = ByteBuffer.allocate(10);
            ex.putLong(size).putShort((short) transmissionFlags(export)).flip();
            info(opt, NBD_INFO_EXPORT, ex);
            reply(opt, NBD_REP_ACK, null);
            if (!go) return null;
            return new Result(export, conn, structured, extended, contextsFor(export), size);
        } catch (IOException | RuntimeException e) {
            if (go) export.detach(client);
            throw e;
        }
    }

    private void metaContext(int opt, ByteBuffer data) throws IOException {
        if (!structured) {
            error(opt, NBD_REP_ERR_INVALID, "request option '%s' when structured reply is not negotiated", optName(opt));
            return;
        }
        String name = readName(opt, data);
        if (name == null) return;
        NbdExport export = server.export(name);
        if (export == null) {
            error(opt, NBD_REP_ERR_UNKNOWN, "export '%s' not present", name);
            return;
        }
        if (data.remaining() < 4) {
            inconsistent(opt);
            return;
        }
        long count = Integer.toUnsignedLong(data.getInt());
        List<String> queries = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            if (data.remaining() < 4) {
                inconsistent(opt);
                return;
            }
            long len = Integer.toUnsignedLong(data.getInt());
            if (len > data.remaining()) {
                inconsistent(opt);
                return;
            }
            byte[] q = new byte[(int) len];
            data.get(q);
            if (len <= NBD_MAX_STRING_SIZE) queries.add(new String(q, StandardCharsets.UTF_8)); // longer ones match nothing
        }
        if (data.hasRemaining()) {
            inconsistent(opt);
            return;
        }
        boolean list = opt == NBD_OPT_LIST_META_CONTEXT;
        MetaContexts.Selection s = MetaContexts.match(export, queries, list);
        if (!list) contexts = s;
        for (MetaContexts.Context c : MetaContexts.contexts(export, s)) {
            byte[] n = utf8(c.name());
            ByteBuffer b = ByteBuffer.allocate(4 + n.length);
            b.putInt(list ? 0 : c.id()).put(n).flip(); // ids mean something only after SET; QEMU sends 0 for LIST
            reply(opt, NBD_REP_META_CONTEXT, b);
        }
        reply(opt, NBD_REP_ACK, null);
    }

    /** Reads a 32-bit length and a name of that length; on an error replies and returns null. */
    private String readName(int opt, ByteBuffer data) throws IOException {
        if (data.remaining() < 4) {
            inconsistent(opt);
            return null;
        }
        long len = Integer.toUnsignedLong(data.getInt());
        if (len > NBD_MAX_STRING_SIZE) {
            error(opt, NBD_REP_ERR_INVALID, "Invalid name length: %d", len);
            return null;
        }
        if (len > data.remaining()) {
            inconsistent(opt);
            return null;
        }
        byte[] n = new byte[(int) len];
        data.get(n);
        return new String(n, StandardCharsets.UTF_8);
    }

    // ---- helpers ----

    private int transmissionFlags(NbdExport export) {
        return export.flags() | (structured ? NBD_FLAG_SEND_DF : 0);
    }

    /** Contexts chosen for another export than the one finally selected do not apply. */
    private MetaContexts.Selection contextsFor(NbdExport export) {
        return export.name().equals(contexts.exportName()) ? contexts : MetaContexts.Selection.NONE;
    }

    private void unexpectedLength(int opt) throws IOException {
        error(opt, NBD_REP_ERR_INVALID, "option '%s' has unexpected length", optName(opt));
    }

    private void inconsistent(int opt) throws IOException {
        error(opt, NBD_REP_ERR_INVALID, "Inconsistent lengths in option %s", optName(opt));
    }

    private void info(int opt, int type, ByteBuffer payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(2 + payload.remaining());
        b.putShort((short) type).put(payload).flip();
        reply(opt, NBD_REP_INFO, b);
    }

    private void error(int opt, int type, String format, Object... args) throws IOException {
        reply(opt, type, ByteBuffer.wrap(utf8(String.format(format, args))));
    }

    private void reply(int opt, int type, ByteBuffer payload) throws IOException {
        header.clear();
        header.putLong(NBD_REP_MAGIC).putInt(opt).putInt(type).putInt(payload == null ? 0 : payload.remaining()).flip();
        if (payload == null) conn.write(header);
        else conn.write(header, payload);
    }

    private void skip(long length) throws IOException {
        ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
        long left = length;
        while (left > 0) {
            sink.clear().limit((int) Math.min(sink.capacity(), left));
            conn.readFully(sink);
            left -= sink.limit();
        }
    }

    private static byte[] utf8(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    /** A line in the daemon's log for what an operator needs to see (refused and denied clients), as qsd prints it. */
    private void report(String format, Object... args) {
        System.err.println("jsd: option negotiation failed: " + String.format(format, args));
    }

    private void log(String format, Object... args) {
        if (NbdServer.DEBUG) System.err.println("jsd: nbd: client " + client.id() + ": " + String.format(format, args));
    }
}
