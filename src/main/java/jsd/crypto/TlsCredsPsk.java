package jsd.crypto;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;

/**
 * tls-creds-psk: pre-shared keys from dir/keys.psk, one "username:hexkey"
 * per line (psktool's format). A server reads the file at each handshake,
 * as GnuTLS does, so keys can be added or revoked without recreating the
 * object; a client needs its username (default "qemu") in the file at
 * creation. The JDK has no TLS-PSK, so sessions run on Bouncy Castle's TLS
 * protocol engine.
 */
public final class TlsCredsPsk implements TlsCreds {
    public static final String TYPE = "tls-creds-psk";
    static final String DEFAULT_USERNAME = "qemu";

    private final boolean server;
    private final Path keysFile;

    private TlsCredsPsk(boolean server, Path keysFile) {
        this.server = server;
        this.keysFile = keysFile;
    }

    @Override
    public boolean isServer() { return server; }

    static TlsCredsPsk create(ObjectNode o) throws IOException {
        if (!o.hasNonNull("dir")) throw QapiError.generic("Missing 'dir' property value");
        Path keys = Path.of(o.get("dir").asText()).resolve("keys.psk");
        if (!Files.exists(keys)) throw QapiError.generic("Unable to access credentials %s: No such file or directory", keys);
        boolean server = !o.hasNonNull("endpoint") || o.get("endpoint").asText().equals("server");
        if (!server) {
            String user = o.hasNonNull("username") ? o.get("username").asText() : DEFAULT_USERNAME;
            String hex = findLine(keys, user);
            if (hex == null) throw QapiError.generic("Username %s not found in PSK file %s", user, keys);
            if (parseHex(hex) == null) throw QapiError.generic("Cannot set PSK client credentials: Error in parsing.");
        }
        return new TlsCredsPsk(server, keys);
    }

    /** The key for a username as the file says now, or null if it has none (or a malformed one). */
    byte[] keyFor(String username) {
        try {
            String hex = findLine(keysFile, username);
            return hex == null ? null : parseHex(hex);
        } catch (IOException e) {
            return null;
        }
    }

    private static String findLine(Path keys, String user) throws IOException {
        for (String line : Files.readAllLines(keys, StandardCharsets.UTF_8)) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).equals(user)) return line.substring(colon + 1).strip();
        }
        return null;
    }

    private static byte[] parseHex(String hex) {
        try {
            byte[] b = HexFormat.of().parseHex(hex);
            return b.length == 0 ? null : b;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    @Override
    public TlsSession serverHandshake(SocketChannel channel, Duration timeout) throws IOException {
        if (!server) {
            channel.close();
            throw new IllegalStateException("tls-creds-psk with endpoint=client used by a server");
        }
        return PskTlsSession.handshake(channel, this, timeout);
    }
}
