//! The CMOS real-time clock (MC146818 at I/O ports 0x70/0x71): wall-clock seconds.

use super::{inb, outb};

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
/// Bit 7 of the index port disables NMIs while a register is selected.
const NMI_OFF: u8 = 0x80;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
/// Status A: an update is in progress (the time registers may be inconsistent).
const UPDATE_IN_PROGRESS: u8 = 0x80;
/// Status B: registers hold binary (not BCD) values.
const BINARY: u8 = 0x04;
/// Status B: 24-hour clock (otherwise bit 7 of the hour is PM).
const HOURS_24: u8 = 0x02;
/// Reads attempted before giving up on a consistent snapshot.
const MAX_TRIES: usize = 1000;

fn read(reg: u8) -> u8 {
    // SAFETY: selecting and reading a CMOS register touches no memory; NMIs stay masked
    // only for the duration of the access.
    unsafe {
        outb(INDEX, NMI_OFF | reg);
        inb(DATA)
    }
}

/// Seconds, minutes, hours, day, month, year (two digits), century register (0 if absent).
fn snapshot() -> [u8; 7] {
    [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(read)
}

/// Seconds since the Unix epoch from the RTC (UTC, as QEMU provides it), or 0 if the
/// clock does not settle.
pub fn wall_clock_secs() -> u64 {
    let mut last = None;
    for _ in 0..MAX_TRIES {
        if read(STATUS_A) & UPDATE_IN_PROGRESS != 0 {
            continue;
        }
        let now = snapshot();
        if last == Some(now) {
            return decode(now, read(STATUS_B));
        }
        last = Some(now);
    }
    0
}

fn decode(raw: [u8; 7], status_b: u8) -> u64 {
    let bin = |v: u8| {
        if status_b & BINARY != 0 {
            v
        } else {
            (v >> 4) * 10 + (v & 0x0f)
        }
    };
    let [sec, min, hour_raw, day, month, year, century] = raw;
    let pm = status_b & HOURS_24 == 0 && hour_raw & 0x80 != 0;
    let mut hour = bin(hour_raw & 0x7f);
    if status_b & HOURS_24 == 0 {
        hour = (hour % 12) + if pm { 12 } else { 0 };
    }
    let century = match bin(century) {
        c @ 19..=99 => u64::from(c),
        _ => 20,
    };
    let year = century * 100 + u64::from(bin(year));
    unix_seconds(
        year,
        bin(month).into(),
        bin(day).into(),
        (u64::from(hour) * 60 + u64::from(bin(min))) * 60 + u64::from(bin(sec)),
    )
}

/// Seconds since the Unix epoch of `year-month-day` (proleptic Gregorian, month 1..=12,
/// day 1..=31) plus `secs_of_day`. Dates before 1970 give 0.
fn unix_seconds(year: u64, month: u64, day: u64, secs_of_day: u64) -> u64 {
    // Days since 1970-01-01 with years starting in March, so the leap day comes last.
    let (y, m) = if month <= 2 {
        (year.wrapping_sub(1), month + 9)
    } else {
        (year, month.wrapping_sub(3))
    };
    let era_days = y / 400 * 146_097;
    let yoe = y % 400;
    let doy = (153 * m + 2) / 5 + day.saturating_sub(1);
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era_days + doe).saturating_sub(719_468);
    days * 86_400 + secs_of_day
}
