//! The raw-pointer side of Godot's packet methods (`_get_packet` / `_put_packet`), shared
//! by [`super::WebSocketServer`] and [`super::WebSocketServerPeer`]: no packed array is
//! made for a packet in either direction.

use godot::meta::conv::RawPtr;

/// Hands `packet` to the engine through its out-pointers.
///
/// # Safety
/// The pointers must be the engine's valid out-pointers of one `_get_packet` call, and
/// `packet` must stay alive and unchanged until the next call on the same object (the
/// caller keeps it in a field), as PacketPeer requires.
pub unsafe fn hand_out(
    packet: &[u8],
    r_buffer: RawPtr<*mut RawPtr<*const u8>>,
    r_buffer_size: RawPtr<*mut i32>,
) {
    // SAFETY: valid out-pointers and a buffer that outlives the engine's use, per the
    // contract above.
    unsafe {
        *(r_buffer.ptr() as *mut *const u8) = packet.as_ptr();
        *r_buffer_size.ptr() = packet.len() as i32;
    }
}

/// The engine's packet of one `_put_packet` call.
///
/// # Safety
/// `p_buffer` must point to `p_buffer_size` readable bytes that stay valid for the
/// returned lifetime, which must not outlast the call (copy what is kept).
pub unsafe fn taken_in<'a>(p_buffer: RawPtr<*const u8>, p_buffer_size: i32) -> &'a [u8] {
    let len = usize::try_from(p_buffer_size).unwrap_or(0);
    if len == 0 {
        return &[];
    }
    // SAFETY: `len` readable bytes at `p_buffer` for the call, per the contract above.
    unsafe { std::slice::from_raw_parts(p_buffer.ptr(), len) }
}
