package jsd.export.virtio;

/**
 * The guest broke a virtqueue's structure (index out of range, a loop in
 * a descriptor chain, a table outside guest memory): no request can be
 * answered on it, so the queue stops until the front-end sets it up again.
 */
public final class RingError extends Exception {
    public RingError(String message) { super(message); }
}
