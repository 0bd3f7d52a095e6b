package jsd.export.nbd;

import jsd.block.DirtyBitmap;

import java.util.ArrayList;
import java.util.List;

/**
 * The metadata contexts an export offers and how queries select them, as
 * QEMU answers: "base:allocation" always, "qemu:allocation-depth" when
 * the export has allocation-depth=on, "qemu:dirty-bitmap:NAME" for each
 * exported bitmap. During LIST a namespace alone ("base:", "qemu:",
 * "qemu:dirty-bitmap:") or no query at all lists everything in it; during
 * SET namespace-only and unknown queries select nothing.
 */
final class MetaContexts {
    static final int ID_BASE_ALLOCATION = 0;
    static final int ID_ALLOCATION_DEPTH = 1;
    /** Exported bitmap i has context id ID_FIRST_BITMAP + i, as in QEMU. */
    static final int ID_FIRST_BITMAP = 2;
    static final String BASE_ALLOCATION = "base:allocation";
    static final String ALLOCATION_DEPTH = "qemu:allocation-depth";
    static final String DIRTY_BITMAP = "qemu:dirty-bitmap:";

    private static final int[] NO_BITMAPS = new int[0];

    /** Which contexts a SET_META_CONTEXT selected, for which export; bitmaps are indices into the export's list. */
    record Selection(String exportName, boolean baseAllocation, boolean allocationDepth, int[] bitmaps) {
        static final Selection NONE = new Selection(null, false, false, NO_BITMAPS);

        boolean any() { return count() > 0; }

        int count() { return (baseAllocation ? 1 : 0) + (allocationDepth ? 1 : 0) + bitmaps.length; }
    }

    record Context(int id, String name) {}

    private MetaContexts() {}

    /** Evaluates the queries of a LIST (list=true) or SET request. */
    static Selection match(NbdExport export, List<String> queries, boolean list) {
        List<DirtyBitmap> exported = export.bitmaps();
        boolean[] chosen = new boolean[exported.size()];
        boolean base = false, depth = false;
        if (list && queries.isEmpty()) {
            base = true;
            depth = export.allocationDepth();
            java.util.Arrays.fill(chosen, true);
        }
        for (String q : queries) {
            switch (q) {
                case "base:" -> base |= list;
                case BASE_ALLOCATION -> base = true;
                case "qemu:" -> {
                    if (list) {
                        depth |= export.allocationDepth();
                        java.util.Arrays.fill(chosen, true);
                    }
                }
                case ALLOCATION_DEPTH -> depth |= export.allocationDepth();
                case DIRTY_BITMAP -> {
                    if (list) java.util.Arrays.fill(chosen, true);
                }
                default -> {
                    // a bitmap by name (the first of that name); unknown names are ignored, as the spec requires
                    if (q.startsWith(DIRTY_BITMAP)) {
                        String name = q.substring(DIRTY_BITMAP.length());
                        for (int i = 0; i < exported.size(); i++) {
                            if (exported.get(i).name().equals(name)) {
                                chosen[i] = true;
                                break;
                            }
                        }
                    }
                }
            }
        }
        int n = 0;
        for (boolean c : chosen) if (c) n++;
        int[] bitmaps = n == 0 ? NO_BITMAPS : new int[n];
        for (int i = 0, k = 0; i < chosen.length; i++) if (chosen[i]) bitmaps[k++] = i;
        return new Selection(export.name(), base, depth, bitmaps);
    }

    /** The contexts of a selection, in the order QEMU reports them. */
    static List<Context> contexts(NbdExport export, Selection s) {
        List<Context> out = new ArrayList<>(s.count());
        if (s.baseAllocation()) out.add(new Context(ID_BASE_ALLOCATION, BASE_ALLOCATION));
        if (s.allocationDepth()) out.add(new Context(ID_ALLOCATION_DEPTH, ALLOCATION_DEPTH));
        for (int i : s.bitmaps()) out.add(new Context(ID_FIRST_BITMAP + i, DIRTY_BITMAP + export.bitmaps().get(i).name()));
        return out;
    }
}
