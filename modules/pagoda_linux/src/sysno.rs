//! System-call numbers: one name per call, its number on x86_64 and in the generic table
//! that riscv64 and aarch64 use (`_`: the call does not exist there — the generic table has
//! no legacy calls such as `open` or `fork`).
//!
//! The numbers are those of the Linux UAPI headers (`asm/unistd_64.h`,
//! `asm-generic/unistd.h`); a test compares every one with the headers of the host when it
//! has them.

macro_rules! number {
    (_) => {
        None
    };
    ($n:literal) => {
        Some($n)
    };
}

macro_rules! syscalls {
    ($($variant:ident $name:ident $x86:tt $generic:tt;)*) => {
        /// A Linux system call, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum Sysno {
            $($variant,)*
        }

        impl Sysno {
            /// Every call this table knows.
            pub const ALL: &[Sysno] = &[$(Sysno::$variant,)*];

            /// The C name (`"rt_sigaction"`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Sysno::$variant => stringify!($name),)*
                }
            }

            /// The number on x86_64.
            pub const fn x86_64(self) -> Option<usize> {
                match self {
                    $(Sysno::$variant => number!($x86),)*
                }
            }

            /// The number in the generic table (riscv64, aarch64).
            pub const fn generic(self) -> Option<usize> {
                match self {
                    $(Sysno::$variant => number!($generic),)*
                }
            }
        }
    };
}

syscalls! {
    Read read 0 63;
    Write write 1 64;
    Open open 2 _;
    Close close 3 57;
    Stat stat 4 _;
    Fstat fstat 5 80;
    Lstat lstat 6 _;
    Poll poll 7 _;
    Lseek lseek 8 62;
    Mmap mmap 9 222;
    Mprotect mprotect 10 226;
    Munmap munmap 11 215;
    Brk brk 12 214;
    RtSigaction rt_sigaction 13 134;
    RtSigprocmask rt_sigprocmask 14 135;
    RtSigreturn rt_sigreturn 15 139;
    Ioctl ioctl 16 29;
    Pread64 pread64 17 67;
    Pwrite64 pwrite64 18 68;
    Readv readv 19 65;
    Writev writev 20 66;
    Access access 21 _;
    Pipe pipe 22 _;
    Select select 23 _;
    SchedYield sched_yield 24 124;
    Mremap mremap 25 216;
    Msync msync 26 227;
    Mincore mincore 27 232;
    Madvise madvise 28 233;
    Shmget shmget 29 194;
    Shmat shmat 30 196;
    Shmctl shmctl 31 195;
    Dup dup 32 23;
    Dup2 dup2 33 _;
    Pause pause 34 _;
    Nanosleep nanosleep 35 101;
    Getitimer getitimer 36 102;
    Alarm alarm 37 _;
    Setitimer setitimer 38 103;
    Getpid getpid 39 172;
    Sendfile sendfile 40 71;
    Socket socket 41 198;
    Connect connect 42 203;
    Accept accept 43 202;
    Sendto sendto 44 206;
    Recvfrom recvfrom 45 207;
    Sendmsg sendmsg 46 211;
    Recvmsg recvmsg 47 212;
    Shutdown shutdown 48 210;
    Bind bind 49 200;
    Listen listen 50 201;
    Getsockname getsockname 51 204;
    Getpeername getpeername 52 205;
    Socketpair socketpair 53 199;
    Setsockopt setsockopt 54 208;
    Getsockopt getsockopt 55 209;
    Clone clone 56 220;
    Fork fork 57 _;
    Vfork vfork 58 _;
    Execve execve 59 221;
    Exit exit 60 93;
    Wait4 wait4 61 260;
    Kill kill 62 129;
    Uname uname 63 160;
    Semget semget 64 190;
    Semop semop 65 193;
    Semctl semctl 66 191;
    Shmdt shmdt 67 197;
    Msgget msgget 68 186;
    Msgsnd msgsnd 69 189;
    Msgrcv msgrcv 70 188;
    Msgctl msgctl 71 187;
    Fcntl fcntl 72 25;
    Flock flock 73 32;
    Fsync fsync 74 82;
    Fdatasync fdatasync 75 83;
    Truncate truncate 76 45;
    Ftruncate ftruncate 77 46;
    Getdents getdents 78 _;
    Getcwd getcwd 79 17;
    Chdir chdir 80 49;
    Fchdir fchdir 81 50;
    Rename rename 82 _;
    Mkdir mkdir 83 _;
    Rmdir rmdir 84 _;
    Creat creat 85 _;
    Link link 86 _;
    Unlink unlink 87 _;
    Symlink symlink 88 _;
    Readlink readlink 89 _;
    Chmod chmod 90 _;
    Fchmod fchmod 91 52;
    Chown chown 92 _;
    Fchown fchown 93 55;
    Lchown lchown 94 _;
    Umask umask 95 166;
    Gettimeofday gettimeofday 96 169;
    Getrlimit getrlimit 97 163;
    Getrusage getrusage 98 165;
    Sysinfo sysinfo 99 179;
    Times times 100 153;
    Ptrace ptrace 101 117;
    Getuid getuid 102 174;
    Syslog syslog 103 116;
    Getgid getgid 104 176;
    Setuid setuid 105 146;
    Setgid setgid 106 144;
    Geteuid geteuid 107 175;
    Getegid getegid 108 177;
    Setpgid setpgid 109 154;
    Getppid getppid 110 173;
    Getpgrp getpgrp 111 _;
    Setsid setsid 112 157;
    Setreuid setreuid 113 145;
    Setregid setregid 114 143;
    Getgroups getgroups 115 158;
    Setgroups setgroups 116 159;
    Setresuid setresuid 117 147;
    Getresuid getresuid 118 148;
    Setresgid setresgid 119 149;
    Getresgid getresgid 120 150;
    Getpgid getpgid 121 155;
    Setfsuid setfsuid 122 151;
    Setfsgid setfsgid 123 152;
    Getsid getsid 124 156;
    Capget capget 125 90;
    Capset capset 126 91;
    RtSigpending rt_sigpending 127 136;
    RtSigtimedwait rt_sigtimedwait 128 137;
    RtSigqueueinfo rt_sigqueueinfo 129 138;
    RtSigsuspend rt_sigsuspend 130 133;
    Sigaltstack sigaltstack 131 132;
    Utime utime 132 _;
    Mknod mknod 133 _;
    Personality personality 135 92;
    Statfs statfs 137 43;
    Fstatfs fstatfs 138 44;
    Getpriority getpriority 140 141;
    Setpriority setpriority 141 140;
    SchedSetparam sched_setparam 142 118;
    SchedGetparam sched_getparam 143 121;
    SchedSetscheduler sched_setscheduler 144 119;
    SchedGetscheduler sched_getscheduler 145 120;
    SchedGetPriorityMax sched_get_priority_max 146 125;
    SchedGetPriorityMin sched_get_priority_min 147 126;
    SchedRrGetInterval sched_rr_get_interval 148 127;
    Mlock mlock 149 228;
    Munlock munlock 150 229;
    Mlockall mlockall 151 230;
    Munlockall munlockall 152 231;
    Vhangup vhangup 153 58;
    Prctl prctl 157 167;
    ArchPrctl arch_prctl 158 _;
    Setrlimit setrlimit 160 164;
    Chroot chroot 161 51;
    Sync sync 162 81;
    Mount mount 165 40;
    Umount2 umount2 166 39;
    Sethostname sethostname 170 161;
    Setdomainname setdomainname 171 162;
    Gettid gettid 186 178;
    Readahead readahead 187 213;
    Tkill tkill 200 130;
    Time time 201 _;
    Futex futex 202 98;
    SchedSetaffinity sched_setaffinity 203 122;
    SchedGetaffinity sched_getaffinity 204 123;
    Getdents64 getdents64 217 61;
    SetTidAddress set_tid_address 218 96;
    RestartSyscall restart_syscall 219 128;
    TimerCreate timer_create 222 107;
    TimerSettime timer_settime 223 110;
    TimerGettime timer_gettime 224 108;
    TimerGetoverrun timer_getoverrun 225 109;
    TimerDelete timer_delete 226 111;
    ClockSettime clock_settime 227 112;
    ClockGettime clock_gettime 228 113;
    ClockGetres clock_getres 229 114;
    ClockNanosleep clock_nanosleep 230 115;
    ExitGroup exit_group 231 94;
    EpollWait epoll_wait 232 _;
    EpollCtl epoll_ctl 233 21;
    Tgkill tgkill 234 131;
    Utimes utimes 235 _;
    Mbind mbind 237 235;
    SetMempolicy set_mempolicy 238 237;
    GetMempolicy get_mempolicy 239 236;
    Waitid waitid 247 95;
    Openat openat 257 56;
    Mkdirat mkdirat 258 34;
    Mknodat mknodat 259 33;
    Fchownat fchownat 260 54;
    Futimesat futimesat 261 _;
    Newfstatat newfstatat 262 79;
    Unlinkat unlinkat 263 35;
    Renameat renameat 264 38;
    Linkat linkat 265 37;
    Symlinkat symlinkat 266 36;
    Readlinkat readlinkat 267 78;
    Fchmodat fchmodat 268 53;
    Faccessat faccessat 269 48;
    Pselect6 pselect6 270 72;
    Ppoll ppoll 271 73;
    Unshare unshare 272 97;
    SetRobustList set_robust_list 273 99;
    GetRobustList get_robust_list 274 100;
    Splice splice 275 76;
    Tee tee 276 77;
    SyncFileRange sync_file_range 277 84;
    Vmsplice vmsplice 278 75;
    MovePages move_pages 279 239;
    Utimensat utimensat 280 88;
    EpollPwait epoll_pwait 281 22;
    TimerfdCreate timerfd_create 283 85;
    Eventfd eventfd 284 _;
    Fallocate fallocate 285 47;
    TimerfdSettime timerfd_settime 286 86;
    TimerfdGettime timerfd_gettime 287 87;
    Accept4 accept4 288 242;
    Eventfd2 eventfd2 290 19;
    EpollCreate1 epoll_create1 291 20;
    Dup3 dup3 292 24;
    Pipe2 pipe2 293 59;
    Preadv preadv 295 69;
    Pwritev pwritev 296 70;
    RtTgsigqueueinfo rt_tgsigqueueinfo 297 240;
    Prlimit64 prlimit64 302 261;
    Syncfs syncfs 306 267;
    Sendmmsg sendmmsg 307 269;
    Getcpu getcpu 309 168;
    ProcessVmReadv process_vm_readv 310 270;
    ProcessVmWritev process_vm_writev 311 271;
    Renameat2 renameat2 316 276;
    Seccomp seccomp 317 277;
    Getrandom getrandom 318 278;
    MemfdCreate memfd_create 319 279;
    Execveat execveat 322 281;
    Membarrier membarrier 324 283;
    Mlock2 mlock2 325 284;
    CopyFileRange copy_file_range 326 285;
    Preadv2 preadv2 327 286;
    Pwritev2 pwritev2 328 287;
    PkeyMprotect pkey_mprotect 329 288;
    PkeyAlloc pkey_alloc 330 289;
    PkeyFree pkey_free 331 290;
    Statx statx 332 291;
    Rseq rseq 334 293;
    PidfdSendSignal pidfd_send_signal 424 424;
    Clone3 clone3 435 435;
    CloseRange close_range 436 436;
    Faccessat2 faccessat2 439 439;
    ProcessMadvise process_madvise 440 440;
    EpollPwait2 epoll_pwait2 441 441;
    Mseal mseal 462 462;
}

/// Numbers are below this on every table here.
const TABLE_LEN: usize = 512;

/// Number → index into [`Sysno::ALL`] (`u16::MAX`: none), for one table.
const fn reverse(generic: bool) -> [u16; TABLE_LEN] {
    let mut table = [u16::MAX; TABLE_LEN];
    let mut i = 0;
    while i < Sysno::ALL.len() {
        let number = if generic {
            Sysno::ALL[i].generic()
        } else {
            Sysno::ALL[i].x86_64()
        };
        if let Some(n) = number {
            table[n] = i as u16;
        }
        i += 1;
    }
    table
}

static X86_64: [u16; TABLE_LEN] = reverse(false);
static GENERIC: [u16; TABLE_LEN] = reverse(true);

fn lookup(table: &[u16; TABLE_LEN], number: usize) -> Option<Sysno> {
    let index = *table.get(number)?;
    Sysno::ALL.get(usize::from(index)).copied()
}

impl Sysno {
    /// The call with this number on x86_64 (`None`: unknown, the caller answers `ENOSYS`).
    pub fn from_x86_64(number: usize) -> Option<Sysno> {
        lookup(&X86_64, number)
    }

    /// The call with this number in the generic table (riscv64, aarch64).
    pub fn from_generic(number: usize) -> Option<Sysno> {
        lookup(&GENERIC, number)
    }
}
