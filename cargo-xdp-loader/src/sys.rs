//! The bpf() system call for what aya 0.14 does not offer: reading any
//! map's raw entries (`map dump`) and BPF_PROG_TEST_RUN (`test-run`).

use std::io;

/// `bpf(command, attr)`, `attr` being the `union bpf_attr` prefix that
/// `command` reads.
///
/// # Safety
/// `attr` must be laid out as the kernel's `union bpf_attr` member for
/// `command`, and every pointer in it must point to a buffer of the size
/// the kernel will read or write through it.
pub(crate) unsafe fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: as the caller promised; the kernel reads at most size_of::<T>().
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}
