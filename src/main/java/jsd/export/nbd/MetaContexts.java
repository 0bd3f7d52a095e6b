package jsd.export.nbd;

import java.util.ArrayList;
import java.util.List;

/**
 * The metadata contexts an export offers and how queries select them, as
 * QEMU answers: "base:allocation" always, "qemu:allocation-depth" when
 * the export has allocation-depth=on. During LIST a namespace alone
 * ("base:", "qemu:") or no query at all lists everything in it; during
 * SET namespace-only and unknown queries select nothing.
 */
final class MetaContexts {
    static final int ID_BASE_ALLOCATION = 0;
    static final int ID_ALLOCATION_DEPTH = 1;
    static final String BASE_ALLOCATION = "base:allocation";
    static final String ALLOCATION_DEPTH = "qemu:allocation-depth";

    /** Which contexts a SET_META_CONTEXT selected, for which export. */
    record Selection(String exportName, boolean baseAllocation, boolean allocationDepth) {
        static final Selection NONE = new Selection(null, false, false);

        boolean any() { return baseAllocation || allocationDepth; }

        int count() { return (baseAllocation ? 1 : 0) + (allocationDepth ? 1 : 0); }
    }

    record Context(int id, String name) {}

    private MetaContexts() {}

    /** Evaluates the queries of a LIST (list=true) or SET request. */
    static Selection match(NbdExport export, List<String> queries, boolean list) {
        boolean base = false, depth = false;
        if (list && queries.isEmpty()) {
            base = true;
            depth = export.allocationDepth();
        }
        for (String q : queries) {
            switch (q) {
                case "base:" -> base |= list;
                case BASE_ALLOCATION -> base = true;
                case "qemu:" -> depth |= list && export.allocationDepth();
                case ALLOCATION_DEPTH -> depth |= export.allocationDepth();
                default -> { } // unknown namespaces and leaves are ignored, as the spec requires
            }
        }
        return new Selection(export.name(), base, depth);
    }

    /** The contexts of a selection, in the order QEMU reports them. */
    static List<Context> contexts(Selection s) {
        List<Context> out = new ArrayList<>(2);
        if (s.baseAllocation()) out.add(new Context(ID_BASE_ALLOCATION, BASE_ALLOCATION));
        if (s.allocationDepth()) out.add(new Context(ID_ALLOCATION_DEPTH, ALLOCATION_DEPTH));
        return out;
    }
}
