//! NUMA memory policies (`mbind`, `set_mempolicy`, `get_mempolicy`) as Linux keeps them on
//! a machine with one memory node, node 0: every allocation comes from it whatever the
//! policy says, but the policy is validated, stored (per area here, per thread by the
//! caller) and read back exactly as Linux does (`mm/mempolicy.c`).
//!
//! An area's policy is one of its attributes: areas with different policies do not merge,
//! the pieces of a split area keep it, `fork` and `mremap` carry it. Moving pages
//! (`MPOL_MF_MOVE`) has nothing to do — they are on the only node already — where Linux
//! copies them to new frames of the same node (their frame numbers change there, not here).
//! Shared memory keeps no policy of its own (Linux's shared policy of shmem): `mbind` of a
//! shared area is accepted and reads back as `MPOL_DEFAULT`.

use axerrno::{LinuxError, LinuxResult};
use memory_addr::{MemoryAddr, PAGE_SIZE_4K, VirtAddr, VirtAddrRange};
use page_table_entry::GenericPTE;
use page_table_multiarch::{PagingHandler, PagingMetaData};

use super::AddrSpace;

/// Linux's `MAX_NUMNODES` (`1 << CONFIG_NODES_SHIFT`) in Debian's x86_64 kernels: bits of
/// a user node mask past it must be 0.
pub const MAX_NUMNODES_X86_64: usize = 1024;
/// The same in Debian's riscv64 kernels (`CONFIG_NODES_SHIFT=2`, checked on its 6.12).
pub const MAX_NUMNODES_RISCV64: usize = 4;

/// `MPOL_F_STATIC_NODES`.
pub const MPOL_F_STATIC_NODES: u16 = 1 << 15;
/// `MPOL_F_RELATIVE_NODES`.
pub const MPOL_F_RELATIVE_NODES: u16 = 1 << 14;
/// `MPOL_F_NUMA_BALANCING`.
pub const MPOL_F_NUMA_BALANCING: u16 = 1 << 13;
const MODE_FLAGS: u32 =
    (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING) as u32;

/// `mbind`'s `MPOL_MF_STRICT`.
pub const MPOL_MF_STRICT: u32 = 1;
/// `mbind`'s `MPOL_MF_MOVE`.
pub const MPOL_MF_MOVE: u32 = 2;
/// `mbind`'s `MPOL_MF_MOVE_ALL` (needs `CAP_SYS_NICE`).
pub const MPOL_MF_MOVE_ALL: u32 = 4;

/// A policy mode (`MPOL_*`, Linux's numbers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum PolicyMode {
    /// `MPOL_DEFAULT`: the thread's policy (for an area) or local allocation.
    #[default]
    Default = 0,
    /// `MPOL_PREFERRED`.
    Preferred = 1,
    /// `MPOL_BIND`.
    Bind = 2,
    /// `MPOL_INTERLEAVE`.
    Interleave = 3,
    /// `MPOL_LOCAL`.
    Local = 4,
    /// `MPOL_PREFERRED_MANY`.
    PreferredMany = 5,
    /// `MPOL_WEIGHTED_INTERLEAVE`.
    WeightedInterleave = 6,
}

const MODES: [PolicyMode; 7] = [
    PolicyMode::Default,
    PolicyMode::Preferred,
    PolicyMode::Bind,
    PolicyMode::Interleave,
    PolicyMode::Local,
    PolicyMode::PreferredMany,
    PolicyMode::WeightedInterleave,
];

/// A node mask read from user memory: its first 64 bits (all that `get_mempolicy` can
/// show with one node) and whether any bit at all is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeMask {
    /// Nodes 0 to 63.
    pub low: u64,
    /// Some node is in the mask.
    pub any: bool,
}

/// A validated policy, as `get_mempolicy` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemPolicy {
    /// The mode (`MPOL_PREFERRED` without nodes became `MPOL_LOCAL`).
    pub mode: PolicyMode,
    /// The mode flags given (`MPOL_F_STATIC_NODES`, `RELATIVE_NODES`, `NUMA_BALANCING`).
    pub flags: u16,
    /// The node mask shown: the user's for static or relative nodes, else the nodes that
    /// exist among those asked for ({0}); empty for `MPOL_DEFAULT` and `MPOL_LOCAL`.
    pub nodes: u64,
}

/// Linux's `sanitize_mpol_flags`: the mode argument (an `int`) split into mode and flags.
///
/// # Errors
/// `EINVAL` for an unknown mode, static together with relative nodes, or NUMA balancing
/// with a mode other than `MPOL_BIND` / `MPOL_PREFERRED_MANY`.
pub fn parse_mode(arg: usize) -> LinuxResult<(PolicyMode, u16)> {
    let arg = arg as u32;
    let flags = (arg & MODE_FLAGS) as u16;
    let mode = *MODES
        .get((arg & !MODE_FLAGS) as usize)
        .ok_or(LinuxError::EINVAL)?;
    if flags & MPOL_F_STATIC_NODES != 0 && flags & MPOL_F_RELATIVE_NODES != 0 {
        return Err(LinuxError::EINVAL);
    }
    if flags & MPOL_F_NUMA_BALANCING != 0
        && !matches!(mode, PolicyMode::Bind | PolicyMode::PreferredMany)
    {
        return Err(LinuxError::EINVAL);
    }
    Ok((mode, flags))
}

/// Linux's `get_nodes`: the node mask at user address `at` of `maxnode - 1` bits, read
/// with `read(addr, word)` one 64-bit word at a time. Bits from `max_numnodes` on (the
/// kernel's `MAX_NUMNODES`, e.g. [`MAX_NUMNODES_X86_64`]) must be 0; they are checked a
/// word at a time from the last one down, as Linux does (a whole word is read even where
/// `maxnode` ends inside it).
///
/// # Errors
/// `EINVAL` for more than a page of bits or a node from `max_numnodes` on; what `read`
/// returns (`EFAULT`).
pub fn read_nodemask(
    at: usize,
    maxnode: usize,
    max_numnodes: usize,
    read: &mut dyn FnMut(usize) -> LinuxResult<u64>,
) -> LinuxResult<NodeMask> {
    let mut maxnode = maxnode.wrapping_sub(1);
    if maxnode == 0 || at == 0 {
        return Ok(NodeMask::default());
    }
    if maxnode > PAGE_SIZE_4K * 8 {
        return Err(LinuxError::EINVAL);
    }
    let word_at = |i: usize| at.checked_add(i * 8).ok_or(LinuxError::EFAULT);
    let masked = |w: u64, bits: usize| if bits < 64 { w & ((1 << bits) - 1) } else { w };
    while maxnode > max_numnodes {
        let bits = maxnode.min(64);
        let mut t = masked(read(word_at((maxnode - 1) / 64)?)?, bits);
        if maxnode - bits >= max_numnodes {
            maxnode -= bits;
        } else {
            // The word holds the last nodes that exist: only the bits above them count.
            maxnode = max_numnodes;
            t &= !((1u64 << (max_numnodes % 64)) - 1);
        }
        if t != 0 {
            return Err(LinuxError::EINVAL);
        }
    }
    let mut mask = NodeMask::default();
    for i in 0..maxnode.div_ceil(64) {
        let w = masked(read(word_at(i)?)?, maxnode - i * 64);
        if i == 0 {
            mask.low = w;
        }
        mask.any |= w != 0;
    }
    Ok(mask)
}

impl MemPolicy {
    /// Linux's `mpol_new` and `mpol_set_nodemask` with node 0 the only node.
    ///
    /// # Errors
    /// `EINVAL`: nodes for `MPOL_DEFAULT` or `MPOL_LOCAL`, no nodes for the modes that
    /// need them, static or relative nodes without nodes, or no existing node among them.
    pub fn new(mode: PolicyMode, flags: u16, nodes: NodeMask) -> LinuxResult<Self> {
        let user = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0;
        let mut mode = mode;
        match mode {
            PolicyMode::Default if nodes.any => return Err(LinuxError::EINVAL),
            PolicyMode::Default => return Ok(Self::default()),
            PolicyMode::Preferred if !nodes.any => {
                if user {
                    return Err(LinuxError::EINVAL);
                }
                mode = PolicyMode::Local;
            }
            PolicyMode::Local if nodes.any || user => return Err(LinuxError::EINVAL),
            PolicyMode::Local => {}
            _ if !nodes.any => return Err(LinuxError::EINVAL),
            _ => {}
        }
        if mode == PolicyMode::Local {
            return Ok(Self {
                mode,
                flags,
                nodes: 0,
            });
        }
        // Relative nodes fold onto the allowed ones (any node maps to node 0); otherwise
        // the nodes asked for that exist.
        let exists = if flags & MPOL_F_RELATIVE_NODES != 0 {
            nodes.any
        } else {
            nodes.low & 1 != 0
        };
        if !exists {
            return Err(LinuxError::EINVAL);
        }
        Ok(Self {
            mode,
            flags,
            nodes: if user { nodes.low } else { 1 },
        })
    }

    /// `get_mempolicy`'s mode word: the mode with its flags.
    pub fn mode_word(&self) -> u32 {
        self.mode as u32 | u32::from(self.flags)
    }
}

/// `mbind`'s checks before the policy is built (Linux's `do_mbind` order): the range to
/// apply it to, `None` for an empty one. `may_move_all`: the caller has `CAP_SYS_NICE`.
///
/// # Errors
/// `EINVAL` for unknown flags, an unaligned start or a range that wraps; `EPERM` for
/// `MPOL_MF_MOVE_ALL` without the capability.
pub fn mbind_range(
    start: usize,
    len: usize,
    flags: usize,
    may_move_all: bool,
) -> LinuxResult<Option<VirtAddrRange>> {
    if flags & !((MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) as usize) != 0 {
        return Err(LinuxError::EINVAL);
    }
    if flags & MPOL_MF_MOVE_ALL as usize != 0 && !may_move_all {
        return Err(LinuxError::EPERM);
    }
    if !start.is_multiple_of(PAGE_SIZE_4K) {
        return Err(LinuxError::EINVAL);
    }
    let len = len.wrapping_add(PAGE_SIZE_4K - 1) & !(PAGE_SIZE_4K - 1);
    let end = start.wrapping_add(len);
    if end < start {
        return Err(LinuxError::EINVAL);
    }
    Ok((end != start).then(|| VirtAddrRange::from_start_size(start.into(), len)))
}

impl<M, P, H> AddrSpace<M, P, H>
where
    M: PagingMetaData<VirtAddr = VirtAddr>,
    P: GenericPTE,
    H: PagingHandler,
{
    /// `mbind` of `range` (from [`mbind_range`]) with `policy`; `asked` is the node mask
    /// the caller gave and `flags` the `MPOL_MF_*` bits.
    ///
    /// # Errors
    /// `EFAULT` if nothing in `range` is mapped or, unless the policy is `MPOL_DEFAULT`,
    /// some page of it is not; `EIO` for `MPOL_MF_STRICT` without a move flag when a
    /// touched page lies on a node outside `asked` (node 0 outside it). Nothing changes
    /// then.
    pub fn mbind(
        &mut self,
        range: VirtAddrRange,
        policy: MemPolicy,
        asked: NodeMask,
        flags: u32,
    ) -> LinuxResult {
        let default = policy.mode == PolicyMode::Default;
        if self.areas.iter_range(range).next().is_none() {
            return Err(LinuxError::EFAULT);
        }
        if !default && !self.fully_mapped(range) {
            return Err(LinuxError::EFAULT);
        }
        let strict = !default && flags & MPOL_MF_STRICT != 0;
        let moves = flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL) != 0;
        if strict && !moves && asked.low & 1 == 0 {
            let touched = self.areas.iter_range(range).any(|area| {
                self.area_pages(area, range.start, range.end)
                    .any(|p| p.present)
            });
            if touched {
                return Err(LinuxError::EIO);
            }
        }
        self.update_attrs(range, |a| a.mempolicy = policy);
        Ok(())
    }

    /// The policy of the area at `addr` (`get_mempolicy(MPOL_F_ADDR)`): `MPOL_DEFAULT`
    /// when it has none.
    ///
    /// # Errors
    /// `EFAULT` if no area contains `addr`.
    pub fn policy_at(&self, addr: VirtAddr) -> LinuxResult<MemPolicy> {
        let area = self.areas.find(addr).ok_or(LinuxError::EFAULT)?;
        Ok(area
            .backend()
            .paged()
            .map_or_else(MemPolicy::default, |p| p.attrs.mempolicy))
    }

    /// The node of the page at `addr`, faulting it in for reading as Linux's
    /// `lookup_node` does (`get_mempolicy(MPOL_F_ADDR | MPOL_F_NODE)`): always 0.
    ///
    /// # Errors
    /// `EFAULT` if the page cannot be read.
    pub fn node_of(&mut self, addr: VirtAddr) -> LinuxResult<u32> {
        let mut byte = [0u8];
        self.read_bytes(addr.align_down_4k(), &mut byte)?;
        Ok(0)
    }
}
