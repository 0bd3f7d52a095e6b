package jsd.export.vhostuser;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;
import jsd.daemon.Daemon;
import jsd.export.BlockExport;
import jsd.net.SocketAddresses;
import jsd.qapi.QapiError;
import jsd.sys.FdPassing;

import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.util.List;

/**
 * The "vhost-user-blk" export type of block-export-add and --export.
 * Option checks and messages are qemu-storage-daemon 7.2's, in its order.
 */
public final class VhostUserBlkCommands {
    private static final long MIN_BLOCK_SIZE = 512;
    private static final long MAX_BLOCK_SIZE = 2 * 1024 * 1024;

    private VhostUserBlkCommands() {}

    /**
     * The stream sockets the daemon was started with (addr.type=fd may name
     * one, once). Taken before the daemon opens sockets of its own, so that
     * a number can never hand the export, say, the QMP monitor's listener.
     */
    private static final java.util.Set<Integer> INHERITED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Wires the export type into the daemon (called from jsd.cli.Extensions). */
    public static void install(Daemon daemon) {
        INHERITED.addAll(inheritedSockets());
        daemon.exports().registerDriver("vhost-user-blk", VhostUserBlkCommands::create);
    }

    private static java.util.Set<Integer> inheritedSockets() {
        java.util.Set<Integer> out = new java.util.HashSet<>();
        try (var fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path p : fds.toList()) {
                try {
                    int fd = Integer.parseInt(p.getFileName().toString());
                    if (fd > 2 && FdPassing.isStreamSocket(fd)) out.add(fd);
                } catch (NumberFormatException ignored) {
                    // not a descriptor entry
                }
            }
        } catch (IOException e) {
            // no /proc: no inherited sockets
        }
        return out;
    }

    private static BlockExport create(ObjectNode options, BlockNode node) throws IOException {
        String id = options.get("id").asText();
        long lbs = options.has("logical-block-size") ? options.get("logical-block-size").asLong() : 512;
        // qemu-storage-daemon takes 0 as "unset" here and then divides by it; jsd uses the default
        if (lbs == 0) lbs = 512;
        if (lbs < MIN_BLOCK_SIZE || lbs > MAX_BLOCK_SIZE) {
            throw QapiError.generic("Property %s.logical-block-size doesn't take value %s (minimum: %d, maximum: %d)",
                    id, Long.toUnsignedString(lbs), MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        }
        if (Long.bitCount(lbs) != 1) {
            throw QapiError.generic("Property %s.logical-block-size doesn't take value '%d', it's not a power of 2", id, lbs);
        }
        int queues = options.has("num-queues") ? options.get("num-queues").asInt() : 1;
        if (queues == 0) throw QapiError.generic("num-queues must be greater than 0");
        JsonNode addr = options.get("addr");
        String type = addr.get("type").asText();
        if (!type.equals("unix") && !type.equals("fd")) {
            throw QapiError.generic("Only socket address types 'unix' and 'fd' are supported");
        }
        FrontendListener listener;
        if (type.equals("fd")) {
            String str = addr.get("str").asText();
            int fd;
            try {
                fd = Integer.parseInt(str);
            } catch (NumberFormatException e) {
                // qemu-storage-daemon looks names up among the monitor's fds, which it never has
                throw QapiError.generic("Unable to parse FD number %s", str);
            }
            // qemu-storage-daemon takes any number; jsd only a socket it was started with
            if (!INHERITED.contains(fd) || !FdPassing.isStreamSocket(fd)) {
                throw QapiError.generic("File descriptor '%s' is not a socket", str);
            }
            INHERITED.remove(fd);
            listener = FrontendListener.inherited(fd);
        } else {
            List<ServerSocketChannel> listeners = SocketAddresses.listen(addr);
            listener = FrontendListener.of(listeners.getFirst());
        }
        return new VhostUserBlkExport(options, node, (int) lbs, queues, listener);
    }
}
