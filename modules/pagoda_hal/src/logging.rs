//! A `log` backend writing to the console.

use log::{LevelFilter, Log, Metadata, Record};

use crate::HalError;

struct ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            crate::console::print(format_args!(
                "[{:<5} {}] {}\n",
                record.level(),
                record.target(),
                record.args()
            ));
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the console logger with `level` as the maximum level.
///
/// # Errors
/// [`HalError::AlreadyInitialized`] if a logger is installed already (the level is still set).
pub fn init(level: LevelFilter) -> Result<(), HalError> {
    log::set_max_level(level);
    log::set_logger(&LOGGER).map_err(|_| HalError::AlreadyInitialized)
}
