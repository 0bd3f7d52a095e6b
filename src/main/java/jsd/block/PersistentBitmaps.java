package jsd.block;

/**
 * A node whose image format can store dirty bitmaps (qcow2): persistent
 * bitmaps are loaded when it opens and written back when it closes.
 */
public interface PersistentBitmaps {
    /** Throws a QapiError with the format's reason when a new persistent bitmap cannot be stored. */
    void checkCanStore(String name, long granularity);

    /** Deletes a stored bitmap from the image (block-dirty-bitmap-remove of a persistent bitmap). */
    void removeStored(DirtyBitmap bitmap) throws java.io.IOException;
}
