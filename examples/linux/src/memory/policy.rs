//! `mbind`, `set_mempolicy` and `get_mempolicy` on one memory node (`pagoda_mm::mempolicy`
//! holds the rules): an area's policy lives in the address space, a thread's in its
//! `Thread` (inherited by `clone` and `fork`, kept by `execve`), passed in here.

use pagoda::linux::Sysno;
use pagoda::mm::{LinuxError, VirtAddr};
use pagoda_mm::mempolicy::{self, MemPolicy, NodeMask, PolicyMode};

use super::{SysResult, get, put, space};

const MPOL_F_NODE: usize = 1;
const MPOL_F_ADDR: usize = 2;
const MPOL_F_MEMS_ALLOWED: usize = 4;
/// `nr_node_ids`: one node.
const NODES: usize = 1;

/// Serves the policy calls; `None` for others. `task`: the calling thread's policy;
/// `euid == 0` has `CAP_SYS_NICE` (`MPOL_MF_MOVE_ALL`).
pub fn syscall(sys: Sysno, a: [usize; 6], task: &mut MemPolicy, euid: u32) -> Option<SysResult> {
    Some(match sys {
        Sysno::Mbind => mbind(a, euid),
        Sysno::SetMempolicy => set_mempolicy(a[0], a[1], a[2]).map(|p| {
            *task = p;
            0
        }),
        Sysno::GetMempolicy => get_mempolicy(a, task),
        _ => return None,
    })
}

/// The user node mask at `at` (`get_nodes`), with the node limit of Debian's kernel for
/// this arch.
fn nodes(at: usize, maxnode: usize) -> Result<NodeMask, LinuxError> {
    let max = match pagoda::ARCH {
        "riscv64" => mempolicy::MAX_NUMNODES_RISCV64,
        _ => mempolicy::MAX_NUMNODES_X86_64,
    };
    mempolicy::read_nodemask(at, maxnode, max, &mut |addr| {
        let mut w = [0u8; 8];
        get(addr, &mut w)?;
        Ok(u64::from_ne_bytes(w))
    })
}

fn mbind(a: [usize; 6], euid: u32) -> SysResult {
    let (mode, mflags) = mempolicy::parse_mode(a[2])?;
    let asked = nodes(a[3], a[4])?;
    let flags = a[5] as u32;
    let Some(range) = mempolicy::mbind_range(a[0], a[1], flags as usize, euid == 0)? else {
        return Ok(0);
    };
    let policy = MemPolicy::new(mode, mflags, asked)?;
    space(|s| s.mbind(range, policy, asked, flags)).map(|()| 0)
}

fn set_mempolicy(mode: usize, nmask: usize, maxnode: usize) -> Result<MemPolicy, LinuxError> {
    let (mode, flags) = mempolicy::parse_mode(mode)?;
    MemPolicy::new(mode, flags, nodes(nmask, maxnode)?)
}

/// `get_mempolicy(policy, nmask, maxnode, addr, flags)` in `kernel_get_mempolicy`'s order.
fn get_mempolicy(a: [usize; 6], task: &MemPolicy) -> SysResult {
    let [policy, nmask, maxnode, addr, flags, _] = a;
    if nmask != 0 && maxnode < NODES {
        return Err(LinuxError::EINVAL);
    }
    if flags & !(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) != 0 {
        return Err(LinuxError::EINVAL);
    }
    let (value, mask) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
        if flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0 {
            return Err(LinuxError::EINVAL);
        }
        (0, 1)
    } else {
        let at = VirtAddr::from_usize(addr);
        let pol = if flags & MPOL_F_ADDR != 0 {
            space(|s| s.policy_at(at))?
        } else if addr != 0 {
            return Err(LinuxError::EINVAL);
        } else {
            *task
        };
        let value = if flags & MPOL_F_NODE == 0 {
            pol.mode_word()
        } else if flags & MPOL_F_ADDR != 0 {
            space(|s| s.node_of(at))?
        } else if matches!(
            task.mode,
            PolicyMode::Interleave | PolicyMode::WeightedInterleave
        ) {
            // The next node of the interleave: the only one.
            0
        } else {
            return Err(LinuxError::EINVAL);
        };
        (value, pol.nodes)
    };
    if policy != 0 {
        put(policy, &value.to_ne_bytes())?;
    }
    if nmask != 0 {
        copy_nodes(nmask, maxnode, mask)?;
    }
    Ok(0)
}

/// Linux's `copy_nodes_to_user`: `maxnode - 1` bits rounded up to words; past the one word
/// of nodes that exist they are cleared (at most a page, else `EINVAL`).
fn copy_nodes(at: usize, maxnode: usize, mask: u64) -> Result<(), LinuxError> {
    let mut copy = (maxnode.wrapping_sub(1).wrapping_add(63) & !63) / 8;
    let nbytes = 8;
    if copy > nbytes {
        if copy > 4096 {
            return Err(LinuxError::EINVAL);
        }
        let zeros = [0u8; 4096];
        put(
            at.checked_add(nbytes).ok_or(LinuxError::EFAULT)?,
            &zeros[..copy - nbytes],
        )?;
        copy = nbytes;
    }
    put(at, &mask.to_ne_bytes()[..copy])
}
