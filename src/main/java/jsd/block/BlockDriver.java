package jsd.block;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;

/** Opens nodes of one driver from its schema-checked BlockdevOptions. */
@FunctionalInterface
public interface BlockDriver {
    BlockNode open(ObjectNode options, OpenContext ctx) throws IOException;

    /** What a driver may ask of the graph while it opens a node. */
    interface OpenContext {
        /** Whether the node being opened is read-only. */
        boolean readOnly();

        /**
         * A child given as a BlockdevRef: a node name (an existing node) or
         * inline options (a new node owned by the one being opened).
         */
        BlockNode child(com.fasterxml.jackson.databind.JsonNode ref, String role) throws IOException;

        /**
         * Opens an image by file name, as a backing file named in an image
         * header: a file node and a format node on top, owned by the opener.
         * format null means probe.
         */
        BlockNode openImage(String filename, String format, boolean readOnly) throws IOException;
    }
}
