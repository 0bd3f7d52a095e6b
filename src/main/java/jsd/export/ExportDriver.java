package jsd.export;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jsd.block.BlockNode;

import java.io.IOException;

/** Creates exports of one type from schema-checked BlockExportOptions. */
@FunctionalInterface
public interface ExportDriver {
    BlockExport create(ObjectNode options, BlockNode node) throws IOException;
}
