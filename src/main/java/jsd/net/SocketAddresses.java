package jsd.net;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.qapi.QapiError;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ProtocolFamily;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.UnknownHostException;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Listening sockets for QAPI SocketAddress values (inet and unix), shared
 * by the NBD server, vhost-user-blk exports and monitors.
 */
public final class SocketAddresses {
    private SocketAddresses() {}

    /** SocketAddressLegacy ({"type": "unix", "data": {...}}) to the flat SocketAddress form. */
    public static ObjectNode flatten(ObjectNode legacy) {
        ObjectNode flat = ((ObjectNode) legacy.get("data")).deepCopy();
        if (legacy.get("type").asText().equals("fd")) {
            ObjectNode f = legacy.objectNode();
            f.put("type", "fd");
            f.put("str", legacy.get("data").get("str").asText());
            return f;
        }
        ObjectNode out = legacy.objectNode();
        out.put("type", legacy.get("type").asText());
        out.setAll(flat);
        return out;
    }

    /** A human-readable form for messages ("unix:/run/x.sock", "127.0.0.1:10809"). */
    public static String describe(JsonNode addr) {
        return switch (addr.get("type").asText()) {
            case "unix" -> addr.get("path").asText();
            case "inet" -> addr.get("host").asText() + ":" + addr.get("port").asText();
            default -> addr.toString();
        };
    }

    /** Where each unix listener's socket file lives (it was bound under a temporary name). */
    private static final java.util.Map<ServerSocketChannel, Path> UNIX_PATHS = new java.util.concurrent.ConcurrentHashMap<>();

    /** Opens the listening socket(s); an inet host may resolve to several addresses. */
    public static List<ServerSocketChannel> listen(JsonNode addr) throws IOException {
        String type = addr.get("type").asText();
        List<ServerSocketChannel> out = new ArrayList<>();
        switch (type) {
            case "unix" -> {
                if (addr.has("abstract") && addr.get("abstract").asBoolean()) {
                    throw QapiError.generic("Abstract unix sockets are not supported by jsd");
                }
                Path path = Path.of(addr.get("path").asText());
                ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    Files.deleteIfExists(path); // a stale socket from an earlier run, as QEMU does
                    // Java binds and listens in two steps: a client that sees the file in
                    // between is refused. So bind under a temporary name and rename the
                    // socket into place once it listens.
                    Path tmp = path.resolveSibling(path.getFileName() + ".jsd-" + ProcessHandle.current().pid());
                    Files.deleteIfExists(tmp);
                    ch.bind(UnixDomainSocketAddress.of(tmp));
                    Files.move(tmp, path, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                    UNIX_PATHS.put(ch, path);
                } catch (IOException e) {
                    ch.close();
                    throw QapiError.generic("Failed to bind socket to %s: %s", path, reason(e));
                }
                out.add(ch);
            }
            case "inet" -> {
                String host = addr.get("host").asText();
                int port = parsePort(addr.get("port").asText());
                boolean only4 = addr.has("ipv4") && addr.get("ipv4").asBoolean() && !(addr.has("ipv6") && addr.get("ipv6").asBoolean());
                boolean only6 = addr.has("ipv6") && addr.get("ipv6").asBoolean() && !(addr.has("ipv4") && addr.get("ipv4").asBoolean());
                InetAddress[] all;
                try {
                    all = host.isEmpty() ? new InetAddress[] {InetAddress.getByName("::")} : InetAddress.getAllByName(stripBrackets(host));
                } catch (UnknownHostException e) {
                    throw QapiError.generic("address resolution failed for %s:%s: Name or service not known", host, addr.get("port").asText());
                }
                IOException last = null;
                for (InetAddress a : all) {
                    if (only4 && !(a instanceof java.net.Inet4Address)) continue;
                    if (only6 && !(a instanceof java.net.Inet6Address)) continue;
                    ProtocolFamily fam = a instanceof java.net.Inet6Address ? StandardProtocolFamily.INET6 : StandardProtocolFamily.INET;
                    ServerSocketChannel ch = ServerSocketChannel.open(fam);
                    try {
                        ch.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
                        ch.bind(new InetSocketAddress(a, port), 128);
                        out.add(ch);
                        if (port == 0) port = ((InetSocketAddress) ch.getLocalAddress()).getPort();
                    } catch (IOException e) {
                        ch.close();
                        last = e;
                    }
                }
                if (out.isEmpty()) {
                    throw QapiError.generic("Failed to bind socket: %s", last == null ? "no usable address" : reason(last));
                }
            }
            case "fd" -> throw QapiError.generic("Passing a listening socket by file descriptor is not supported by jsd");
            default -> throw QapiError.generic("Socket address type '%s' is not supported by jsd", type);
        }
        return out;
    }

    private static String stripBrackets(String host) {
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    private static int parsePort(String port) {
        try {
            int p = Integer.parseInt(port);
            if (p < 0 || p > 65535) throw new NumberFormatException();
            return p;
        } catch (NumberFormatException e) {
            throw QapiError.generic("Port '%s' is not a valid port number", port);
        }
    }

    private static String reason(IOException e) {
        String m = e.getMessage();
        if (m == null) return e.getClass().getSimpleName();
        if (m.contains("in use")) return "Address already in use";
        if (m.contains("denied")) return "Permission denied";
        if (m.contains("No such file")) return "No such file or directory";
        return m;
    }

    /** Removes a unix socket's file when its listener closes. */
    public static void unlinkIfUnix(ServerSocketChannel ch) {
        try {
            Path renamed = UNIX_PATHS.remove(ch);
            if (renamed != null) {
                Files.deleteIfExists(renamed);
                return;
            }
            SocketAddress a = ch.getLocalAddress();
            if (a instanceof UnixDomainSocketAddress u) Files.deleteIfExists(u.getPath());
        } catch (IOException ignored) {
            // already gone
        }
    }
}
