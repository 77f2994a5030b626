mod abi;
mod sysno;
