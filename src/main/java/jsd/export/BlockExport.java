package jsd.export;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;

/**
 * An export of a block node, of any type. The registry owns its lifecycle:
 * it is created, later asked to shut down (safely or hard), and when its
 * last client has gone it reports itself finished through
 * {@link ExportRegistry#finished}, which emits BLOCK_EXPORT_DELETED.
 */
public abstract class BlockExport {
    private final String id;
    private final String type;
    private final BlockNode node;
    private final boolean writable;
    private final boolean writethrough;
    private volatile boolean shuttingDown;

    protected BlockExport(ObjectNode options, BlockNode node) {
        this.id = options.get("id").asText();
        this.type = options.get("type").asText();
        this.node = node;
        this.writable = options.has("writable") && options.get("writable").asBoolean();
        this.writethrough = options.has("writethrough") && options.get("writethrough").asBoolean();
    }

    public final String id() { return id; }

    public final String type() { return type; }

    public final BlockNode node() { return node; }

    public final boolean writable() { return writable; }

    /** Every write is flushed before it is acknowledged. */
    public final boolean writethrough() { return writethrough; }

    public final boolean shuttingDown() { return shuttingDown; }

    final void markShuttingDown() { shuttingDown = true; }

    /** Whether clients are attached (a safe delete refuses then). */
    public abstract boolean inUse();

    /**
     * Stops taking new clients; with hard, also drops the attached ones.
     * When no client is left, the export calls registry.finished(this)
     * (possibly from inside this call).
     */
    protected abstract void shutdown(boolean hard, ExportRegistry registry);
}
