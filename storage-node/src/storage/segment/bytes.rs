//! Slot bytes read in place as the values and codes they hold.

#[cfg(target_endian = "big")]
compile_error!("segment files and WAL records hold little-endian f32s, read in place");

pub(super) fn as_f32(bytes: &[u8]) -> &[f32] {
    // SAFETY: every bit pattern is a valid f32; slots start at multiples of the alignment
    // (>= 16) from a page-aligned base, so the head is empty, checked below.
    let (head, floats, tail) = unsafe { bytes.align_to::<f32>() };
    assert!(head.is_empty() && tail.is_empty(), "misaligned f32 slot");
    floats
}

pub(super) fn as_f32_mut(bytes: &mut [u8]) -> &mut [f32] {
    // SAFETY: as in `as_f32`.
    let (head, floats, tail) = unsafe { bytes.align_to_mut::<f32>() };
    assert!(head.is_empty() && tail.is_empty(), "misaligned f32 slot");
    floats
}

pub(super) fn as_i8(bytes: &[u8]) -> &[i8] {
    // SAFETY: u8 and i8 have the same size and alignment and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

pub(super) fn as_u8(codes: &[i8]) -> &[u8] {
    // SAFETY: as in `as_i8`, the other way round.
    unsafe { std::slice::from_raw_parts(codes.as_ptr().cast::<u8>(), codes.len()) }
}

pub(super) fn as_i8_mut(bytes: &mut [u8]) -> &mut [i8] {
    // SAFETY: as in `as_i8`; the exclusive borrow carries over.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<i8>(), bytes.len()) }
}
